"""A stand-in for pip in the Windows lane: ``python -m pip ...`` logs its arguments and pretends.

Each call appends a JSON line to %CHUNKY_STUB_LOG% ({"exe": ..., "argv": ["pip", ...], ...}, the
format of the stub programs). ``install`` of torch writes a fake ``torch`` package into this Python's
site-packages whose ``__version__`` and ``version.cuda`` follow the index it was installed from, the
way download.pytorch.org and PyPI's Windows wheels do (cu130 -> 2.14.0+cu130 / "13.0"; cpu ->
2.13.0+cpu; PyPI -> 2.13.0, CPU only). ``uninstall torch`` removes it. %CHUNKY_FAKE_PIP_FAIL% makes any
call whose arguments contain that text fail with exit code 1. Standard library only.
"""
