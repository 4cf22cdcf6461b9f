"""Start Chunky's web page: ``python app.py [--host 127.0.0.1] [--port 7860] [--no-browser]``."""

import chunky.bootstrap  # noqa: F401, I001  (first: temp redirection before torch/nemo/gradio)

import sys


def main(argv: list[str] | None = None) -> int:
    from chunky.app.server import main as app_main

    return app_main(argv)


if __name__ == "__main__":
    sys.exit(main())
