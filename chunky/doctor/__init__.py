"""``python -m chunky doctor`` and the page's system check: check this PC's set-up for Chunky and say what
to fix.

Looks at the Python, PyTorch, NeMo and Gradio versions, the GPU (or why there is none), the temp folder
in effect, where ``local_models`` and ``model_cache`` are, free disk space, whether a sync client
(OneDrive, Dropbox, Google Drive, iCloud) syncs those folders, and every local model (archive present,
extracted, manifest verified). Each finding is ``ok``, ``warning`` or ``problem``; problems come with a
fix. Nothing here changes the system: fixes such as a Windows Defender exclusion are printed for the user
to run.

Fast: versions come from package metadata (NeMo and Gradio are never imported), torch is imported only
when ``probe_gpu`` is true, and model archives are hashed only for ``verify=True`` or when a model's quick
check already failed. Every input can be injected (environment, folders, store, probes), so tests simulate
Windows set-ups on any OS.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chunky import __version__
from chunky.doctor.context import Checkup
from chunky.doctor.folders import (
    check_antivirus,
    check_disk,
    check_folders,
    check_retry_setting,
    check_sync,
    check_temp,
)
from chunky.doctor.model_checks import check_models
from chunky.doctor.probes import (
    NvidiaSmiInfo,
    TorchInfo,
    dist_version,
    find_nvidia_smi,
    probe_nvidia_smi,
    probe_torch,
)
from chunky.doctor.report import Report, format_report
from chunky.doctor.system import check_gpu, check_packages, check_python

if TYPE_CHECKING:
    from chunky.bootstrap import AppPaths
    from chunky.models.store import ModelStore

__all__ = ["Report", "collect", "format_report"]


def collect(
    paths: AppPaths,
    env: Mapping[str, str],
    store: ModelStore | None = None,
    probe_gpu: bool = True,
    *,
    verify: bool = False,
    windows: bool | None = None,
    tempdir: str | None = None,
    disk_usage: Callable[[Path], Any] = shutil.disk_usage,
    version_of: Callable[[str], str | None] = dist_version,
    which: Callable[[str], str | None] = shutil.which,
    torch_probe: Callable[[], TorchInfo] = probe_torch,
    smi_probe: Callable[[str | None], NvidiaSmiInfo] = probe_nvidia_smi,
) -> Report:
    """Check the set-up and return a :class:`Report`.

    ``paths``: Chunky's folders. ``env``: the environment Chunky runs in (its ``CHUNKY_*`` settings, and
    where OneDrive's variables, ``%APPDATA%`` and the home folder come from).
    ``store``: the model store (default: one on ``paths``). ``probe_gpu``: import torch and run nvidia-smi
    (seconds); without it only their presence is reported. ``verify``: hash every archive and compare every
    extracted file (slow for big models; by default only models whose quick check failed are verified).
    ``windows`` (default: this OS), ``tempdir`` (default ``tempfile.gettempdir()``), ``disk_usage``,
    ``version_of``, ``which``, ``torch_probe`` and ``smi_probe`` let tests simulate other machines.
    """
    windows = os.name == "nt" if windows is None else windows
    tempdir = tempfile.gettempdir() if tempdir is None else tempdir
    doctor = Checkup(paths, env, windows=windows, tempdir=tempdir, disk_usage=disk_usage,
                     version_of=version_of, which=which)
    bits = 64 if sys.maxsize > 2**32 else 32
    versions: dict[str, str | None] = {
        "python": f"{platform.python_version()} ({bits}-bit)",
        "chunky": __version__,
        "torch": version_of("torch"),
        "nemo_toolkit": version_of("nemo_toolkit"),
        "gradio": version_of("gradio"),
    }
    folders = {
        "app": str(paths.app_root),
        "local_models": str(paths.local_models),
        "model_cache": str(paths.model_cache),
        "extracted": str(paths.extracted),
        "outputs": str(paths.outputs),
        "temp": tempdir,
    }
    check_python(doctor)
    check_packages(doctor, versions)
    smi_path = find_nvidia_smi(env, which, windows)
    if probe_gpu:
        torch_info = torch_probe() if versions["torch"] is not None else TorchInfo(version=None)
        if torch_info.version and torch_info.imported:
            versions["torch"] = torch_info.version
        check_gpu(doctor, torch_info, smi_probe(smi_path))
    else:
        check_gpu(doctor, None, NvidiaSmiInfo(smi_path))
    check_folders(doctor)
    check_temp(doctor)
    check_sync(doctor)
    check_disk(doctor)
    check_antivirus(doctor)
    check_retry_setting(doctor)
    check_models(doctor, store, verify)
    return Report(versions, folders, doctor.findings)
