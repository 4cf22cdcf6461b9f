"""Download, import and pre-extract NeMo models: ``python setup_local_models.py --help``."""

import chunky.bootstrap  # noqa: F401, I001  (first: temp redirection before anything heavy)

if __name__ == "__main__":
    from chunky.cli.setup import main

    raise SystemExit(main())
