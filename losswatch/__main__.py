from losswatch.cli import main

raise SystemExit(main())
