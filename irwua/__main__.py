"""Allow ``python -m irwua``."""

from irwua.cli import main

raise SystemExit(main())
