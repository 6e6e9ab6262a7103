from kwtui.cli import main

raise SystemExit(main())
