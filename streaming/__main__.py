from streaming.tools.cli import main

raise SystemExit(main())
