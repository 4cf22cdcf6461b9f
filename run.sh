#!/usr/bin/env bash
# Chunky for Linux and macOS.
#   ./run.sh [app.py options]     set up on first use, then start the page (e.g. ./run.sh --no-browser)
#   ./run.sh test [pytest args]   set up with the test tools, run ruff and the whole test suite
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
VENV="$HERE/.venv"

find_python() {
    if [ -n "${CHUNKY_PYTHON:-}" ]; then echo "$CHUNKY_PYTHON"; return 0; fi
    for candidate in python3.12 python3.11 python3.13 python3.14 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    return 1
}

ensure_venv() {
    # A venv whose creation stopped part-way (ensurepip missing or failed, the terminal closed) has a
    # python but no pip: build it again instead of failing on it at every start.
    if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c "import pip" >/dev/null 2>&1; then
        echo "The virtual environment in .venv is incomplete (an earlier set-up stopped part-way); building it again..."
        rm -rf -- "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        PY="$(find_python)" || { echo "Chunky needs Python 3.11 or newer (python.org or your package manager)." >&2; exit 1; }
        echo "Creating the virtual environment in .venv with $PY (first start only)..."
        if ! "$PY" -m venv "$VENV"; then
            echo "Creating the virtual environment with $PY failed (see above). On Debian/Ubuntu install python3-venv (e.g. sudo apt install python3-venv), then run ./run.sh again." >&2
            exit 1
        fi
    fi
    "$VENV/bin/python" -m chunky.setup_env "$@"
}

# Tools the tests use: espeak-ng (speech), sox/ffmpeg (audio), chromium (browser tests).
ensure_test_system_packages() {
    local missing=()
    command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
    command -v sox >/dev/null 2>&1 || missing+=(sox)
    command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing ${missing[*]} with apt-get..."
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" libsndfile1 >/dev/null
    else
        echo "note: ${missing[*]} not found; tests that need them are skipped (install them with your package manager)." >&2
    fi
}

if [ "${1:-}" = "test" ]; then
    shift
    ensure_venv --dev
    ensure_test_system_packages
    echo "== ruff check"
    "$VENV/bin/ruff" check .
    echo "== pytest"
    exec "$VENV/bin/python" -m pytest "$@"
fi

ensure_venv
exec "$VENV/bin/python" "$HERE/app.py" "$@"
