"""A stand-in for pytest in the Windows lane: ``pytest.main(args)`` (or ``python -m pytest ARGS``) prints
the arguments it got as one JSON line (``FAKE-PYTEST-ARGS [...]``) and returns %CHUNKY_FAKE_PYTEST_EXIT%
(default 0)."""

import json
import os
import sys


def main(args=None):
    print("FAKE-PYTEST-ARGS " + json.dumps(list(args or []), ensure_ascii=True), flush=True)
    return int(os.environ.get("CHUNKY_FAKE_PYTEST_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
