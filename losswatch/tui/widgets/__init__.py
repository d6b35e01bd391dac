"""The TUI's widgets, one per file; each reacts to the messages in `losswatch.tui.messages`."""
