from __future__ import annotations

import json
import os
import re
import shutil
import sys
import sysconfig
from pathlib import Path

TORCH_VERSIONS = {"cu126": "2.14.0", "cu128": "2.11.0", "cu130": "2.14.0", "cpu": "2.13.0", "pypi": "2.13.0"}


def log(argv: list[str]) -> None:
    path = os.environ.get("CHUNKY_STUB_LOG")
    if not path:
        return
    import ctypes

    cmdline = ctypes.windll.kernel32.GetCommandLineW
    cmdline.restype = ctypes.c_wchar_p
    record = {"exe": sys.executable, "cwd": os.getcwd(), "cmdline": cmdline(), "argv": ["pip", *argv]}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")


def site() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def reachable(index: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{index.rstrip('/')}/torch/", timeout=10) as r:
            r.read(1)
        return True
    except OSError:
        return False


def install_torch(argv: list[str], spec: str) -> int:
    index = argv[argv.index("--index-url") + 1] if "--index-url" in argv else None
    if index and not reachable(index):  # what real pip ends with when the index cannot be reached
        print(f"WARNING: Retrying ... connection failed: {index}/torch/", file=sys.stderr)
        print(f"ERROR: Could not find a version that satisfies the requirement {spec} (from versions: none)",
              file=sys.stderr)
        return 1
    flavor = index.rstrip("/").rsplit("/", 1)[-1] if index else "pypi"
    pinned = re.match(r"torch==([\w.+]+)$", spec)
    version = pinned.group(1) if pinned else TORCH_VERSIONS.get(flavor, "2.13.0")
    if flavor.startswith("cu"):
        local, cuda = f"{version.split('+')[0]}+{flavor}", f"{flavor[2:-1]}.{flavor[-1]}"
    else:
        local, cuda = (f"{version.split('+')[0]}+cpu" if flavor == "cpu" else version.split("+")[0]), None
    pkg = site() / "torch"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(f"__version__ = {local!r}\nfrom torch import version\n", "utf-8")
    (pkg / "version.py").write_text(f"cuda = {cuda!r}\n", "utf-8")
    print(f"Successfully installed torch-{local} (fake, from {index or 'PyPI'})")
    return 0


def main(argv: list[str]) -> int:
    log(argv)
    fail = os.environ.get("CHUNKY_FAKE_PIP_FAIL")
    if fail and fail in " ".join(argv):
        print(f"ERROR: simulated pip failure ({fail})", file=sys.stderr)
        return 1
    while argv and argv[0].startswith("-"):  # general options before the command
        argv = argv[1:]
    if argv[:1] == ["uninstall"]:
        if "torch" in argv:
            shutil.rmtree(site() / "torch", ignore_errors=True)
            print("Successfully uninstalled torch (fake)")
        return 0
    if argv[:1] == ["install"]:
        for arg in argv[1:]:
            if arg.startswith("torch") and not arg.startswith("torch-"):
                return install_torch(argv, arg)
        return 0
    print(f"fake pip: nothing to do for {argv}", file=sys.stderr)
    return 0


raise SystemExit(main(sys.argv[1:]))
