import chunky.bootstrap  # noqa: F401  (first: temp redirection before anything heavy)
from chunky.cli import main

raise SystemExit(main())
