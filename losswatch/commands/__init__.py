"""One module per `losswatch` sub-command; each exposes `add_parser(subparsers)` and `run(args) -> int`."""
