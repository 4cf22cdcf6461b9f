"""Python, the packages, PyTorch and the GPU."""

from __future__ import annotations

import platform
import sys

from chunky.base.fs import human_size
from chunky.doctor.context import (
    MIN_DRIVER_MAJOR,
    NVIDIA_DRIVERS_URL,
    SECTION_GPU,
    SECTION_INSTALL,
    VC_REDIST_URL,
    Checkup,
)
from chunky.doctor.probes import GpuDevice, NvidiaSmiInfo, TorchInfo, _driver_major
from chunky.doctor.report import OK, PROBLEM, WARNING


def check_python(ck: Checkup) -> None:
    bits = 64 if sys.maxsize > 2**32 else 32
    version = platform.python_version()
    venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
    details = [sys.executable, "in a virtual environment" if venv else "not in a virtual environment"]
    if bits == 32:
        ck.add("python", PROBLEM, f"Python {version} is a 32-bit build: PyTorch needs 64-bit Python",
                 details, "Install the 64-bit Python 3.11 or newer from "
                 "https://www.python.org/downloads/windows/, delete the .venv folder and start run.bat "
                 "again.", SECTION_INSTALL)
    else:
        ck.add("python", OK, f"Python {version} ({bits}-bit)", details)


def check_packages(ck: Checkup, versions: dict[str, str | None]) -> None:
    labels = {"torch": "PyTorch", "nemo_toolkit": "NeMo", "gradio": "Gradio"}
    missing = [labels[k] for k in labels if versions.get(k) is None]
    present = [f"{labels[k]} {versions[k]}" for k in labels if versions.get(k) is not None]
    if missing:
        ck.add(
            "packages", PROBLEM, f"Not installed: {', '.join(missing)}", present,
            "Install what is missing: "
            + ck.in_app(f"{ck.python} -m pip install -r requirements.txt")
            + ("\nWithout PyTorch, delete the .venv folder and start run.bat instead: it installs the "
               "right PyTorch build for this PC first." if "PyTorch" in missing else ""),
            SECTION_INSTALL,
        )
    else:
        ck.add("packages", OK, ", ".join(present))


def check_gpu(ck: Checkup, torch: TorchInfo | None, smi: NvidiaSmiInfo) -> None:
    device_pref = ck.settings.device
    if "device" in ck.settings.rejected:
        _source, raw, _why = ck.settings.rejected["device"]
        ck.add("gpu", PROBLEM, f"CHUNKY_DEVICE={raw!r} is not a device Chunky knows",
                 fix="Set CHUNKY_DEVICE to auto, cpu or cuda, or remove the variable.",
                 section=SECTION_GPU)
    if torch is None:  # not probed
        version = ck.version_of("torch")
        ck.add("gpu", OK, "GPU not checked (run without --no-gpu to check it)", [
            f"PyTorch {version}" if version else "PyTorch not installed",
            f"nvidia-smi found: {smi.path}" if smi.path else "nvidia-smi not found",
        ])
        return
    if torch.version is None:
        return  # check_packages reports it
    if not torch.imported:
        dll = "dll" in (torch.error or "").lower() or "winerror 126" in (torch.error or "").lower()
        reinstall_fix = "delete the .venv folder and start run.bat again (it reinstalls PyTorch)."
        fix = (
            f"Install the Microsoft Visual C++ Redistributable (x64) from {VC_REDIST_URL}, restart the "
            f"PC and start Chunky again. If that does not help, {reinstall_fix}"
            if dll else reinstall_fix[0].upper() + reinstall_fix[1:]
        )
        ck.add("gpu", PROBLEM, "PyTorch is installed but cannot be imported", [str(torch.error)], fix,
                 SECTION_GPU)
        return
    if torch.cuda_available:
        for d in torch.devices or [GpuDevice("CUDA device", 0)]:
            memory = f", {human_size(d.total_bytes)} memory" if d.total_bytes else ""
            free = f" ({human_size(d.free_bytes)} free)" if d.free_bytes is not None else ""
            details = [f"CUDA {torch.cuda_build}, PyTorch {torch.version}"]
            details += [f"driver {g.driver}" for g in smi.gpus[:1]]
            if device_pref == "cpu":
                ck.add("gpu", WARNING, f"GPU: {d.name}{memory}{free}, but CHUNKY_DEVICE=cpu keeps "
                         "Chunky on the CPU", details,
                         "Remove the CHUNKY_DEVICE variable (or set it to auto) to use the GPU.",
                         SECTION_GPU)
            else:
                ck.add("gpu", OK, f"GPU: {d.name}{memory}{free}", details)
        return
    # No usable GPU: say why.
    runs_on_cpu = "transcription runs on the CPU (it works, but much more slowly)"
    driver_fix = (
        f"install or update the NVIDIA driver (version {MIN_DRIVER_MAJOR} or newer) from "
        f"{NVIDIA_DRIVERS_URL}, restart, and check that `nvidia-smi` lists the GPU"
    )
    reinstall = (
        f"delete the .venv folder in {ck.paths.app_root} and start run.bat again: its first start "
        "installs the CUDA build of PyTorch when nvidia-smi finds the GPU"
    )
    details = [f"PyTorch {torch.version}"]
    if smi.path is None:
        details.append("nvidia-smi not found (no NVIDIA driver installed)")
    elif smi.error:
        details.append(f"nvidia-smi failed: {smi.error}")
    elif smi.gpus:
        details.append("nvidia-smi: " + ", ".join(f"{g.name} (driver {g.driver})" for g in smi.gpus))
    if torch.error:
        details.append(torch.error)
    if torch.cuda_build is None:
        if smi.gpus:
            summary = (
                f"PyTorch is a CPU-only build although this PC has an NVIDIA GPU ({smi.gpus[0].name})"
            )
            fix = f"To get the CUDA build, {reinstall}."
        elif smi.path is not None:
            summary = "PyTorch is a CPU-only build and the NVIDIA driver does not answer"
            fix = f"{driver_fix[0].upper()}{driver_fix[1:]}; then {reinstall}."
        else:
            summary = "No NVIDIA GPU found and PyTorch is a CPU-only build"
            fix = f"If this PC has an NVIDIA GPU: {driver_fix}; then {reinstall}."
        ck.add("gpu", WARNING, f"{summary}: {runs_on_cpu}", details, fix, SECTION_GPU)
        return
    old = [g for g in smi.gpus if (_driver_major(g.driver) or MIN_DRIVER_MAJOR) < MIN_DRIVER_MAJOR]
    if old:
        why = f"the NVIDIA driver {old[0].driver} is too old for CUDA {torch.cuda_build}"
    elif smi.path is None:
        why = "no NVIDIA driver was found (nvidia-smi is missing)"
    elif smi.error or not smi.gpus:
        why = "the NVIDIA driver does not answer"
    else:
        why = "PyTorch cannot use the GPU"
    ck.add("gpu", WARNING, f"CUDA {torch.cuda_build} build of PyTorch, but {why}: {runs_on_cpu}",
             details, f"{driver_fix[0].upper()}{driver_fix[1:]}, then start Chunky again.", SECTION_GPU)
