"""Chunky's folders, the temp folder, sync clients, free disk space, antivirus, the lock-retry setting."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from chunky.base.fs import human_size, is_writable
from chunky.doctor.context import (
    LONG_PATH_WARNING,
    LOW_DISK_PROBLEM,
    LOW_DISK_WARNING,
    SECTION_DEFENDER,
    SECTION_LOCKS,
    SECTION_MOVE,
    SECTION_SYNC,
    TEMP_ENV_VARS,
    Checkup,
)
from chunky.doctor.probes import _getenv, _norm, _quote, is_inside, sync_roots, synced_by
from chunky.doctor.report import OK, PROBLEM, WARNING


def check_folders(ck: Checkup) -> None:
    p = ck.paths
    home = _getenv(ck.env, "CHUNKY_HOME")
    details = []
    if home:
        details.append(f"moved with CHUNKY_HOME={home}")
    elif p.fallback:
        details.append(f"the folder beside app.py ({p.app_root}) is not writable; using the user folders")
    else:
        details.append("beside app.py (the default)")
    not_writable = [f for f in (p.local_models, p.model_cache, p.outputs) if not is_writable(f)]
    if not_writable:
        ck.add(
            "folders", PROBLEM, "Chunky cannot write to " + ", ".join(str(f) for f in not_writable),
            details,
            "Give your user write access to these folders, or move them to a folder you own with "
            f"CHUNKY_HOME: {ck.set_home_cmd()}. On Windows, 'Controlled folder access' (Windows "
            "Security > Ransomware protection) blocks unknown programs from Documents and Desktop: allow "
            "python.exe there, or use another folder.", SECTION_MOVE)
    else:
        ck.add("folders", OK, "Chunky can write to local_models and model_cache", details)
    if ck.windows and len(str(p.extracted)) > LONG_PATH_WARNING:
        ck.add(
            "folders", WARNING,
            f"The path of model_cache\\extracted is {len(str(p.extracted))} characters long: files of a "
            "model may exceed Windows' 260-character limit", [str(p.extracted)],
            f"Move Chunky's data to a short path with CHUNKY_HOME: {ck.set_home_cmd()}, or enable long "
            "paths (PowerShell as administrator): New-ItemProperty -Path "
            '"HKLM:\\SYSTEM\\CurrentControlSet\\Control\\FileSystem" -Name LongPathsEnabled -Value 1 '
            "-PropertyType DWORD -Force", SECTION_MOVE)


def check_temp(ck: Checkup) -> None:
    root = ck.paths.tmp_root
    in_effect = ck.tempdir
    details = [f"tempfile.gettempdir(): {in_effect}"]
    outside: list[str] = []
    if not is_inside(in_effect, root):
        outside.append(f"Python's temp folder ({in_effect})")
    for var in TEMP_ENV_VARS:
        value = _getenv(ck.env, var)
        details.append(f"{var}={value or '(not set)'}")
        if not value or not is_inside(value, root):
            outside.append(f"{var}={value or '(not set)'}")
    if not outside:
        gradio = _getenv(ck.env, "GRADIO_TEMP_DIR")
        ck.add("temp", OK, f"Temporary files go to {in_effect} (inside model_cache)",
                 [f"TEMP, TMP and TMPDIR point there; GRADIO_TEMP_DIR={gradio}"])
        return
    fix = (
        "Start Chunky with run.bat, app.py or python -m chunky: they redirect temp files into "
        f"{root} before anything else is loaded. If something resets TEMP/TMP afterwards (a "
        "sitecustomize, a wrapper script, a program that starts Chunky), remove that. Do not exclude "
        "the system temp folder from antivirus scanning instead: exclude model_cache only."
    )
    tmp = "model_cache\\tmp" if ck.windows else "model_cache/tmp"
    ck.add("temp", PROBLEM, f"Temporary files are not redirected into {tmp}: " + "; ".join(outside),
             details, fix, SECTION_LOCKS)


def check_sync(ck: Checkup) -> None:
    roots = sync_roots(ck.env)
    p = ck.paths
    folders = [
        ("local_models", p.local_models), ("model_cache", p.model_cache), ("the app folder", p.app_root)
    ]
    grouped: dict[tuple[str, str], tuple[Path, list[str]]] = {}
    for label, folder in folders:
        for provider, root in synced_by(folder, roots):
            key = (provider, _norm(root))
            grouped.setdefault(key, (root, []))[1].append(label)
    if not grouped:
        ck.add("sync", OK, "No OneDrive, Dropbox, Google Drive or iCloud folder holds Chunky's folders")
        return
    for (provider, _), (root, labels) in grouped.items():
        details = [f"{provider} folder: {root}"]
        if provider == "Google Drive" and ck.windows and str(root)[:2].upper() == "G:":
            details.append("G: is usually Google Drive's virtual drive")
        lines = [
            f"Keep Chunky's data outside the {provider} folder: close Chunky, move local_models and "
            f"model_cache to a folder that is not synced (e.g. {ck.suggested_home()}), then run "
            f"{ck.set_home_cmd()} and start Chunky from a new window."
        ]
        if "the app folder" in labels:
            lines.append(
                "The app folder is synced too (thousands of files in .venv): move the whole Chunky "
                "folder out, delete its .venv folder and start run.bat again."
            )
        if provider == "OneDrive":
            lines.append("If it must stay: pause syncing while Chunky runs, and right-click the "
                         "folders > 'Always keep on this device'.")
        elif provider == "Dropbox" and ck.windows:
            lines.append("If it must stay, tell Dropbox to ignore the cache (PowerShell): Set-Content "
                         f"-Path {_quote(p.model_cache)} -Stream com.dropbox.ignored -Value 1")
        elif provider in ("Google Drive", "iCloud Drive"):
            lines.append(f"{provider} cannot exclude a folder inside it: move the data out.")
        ck.add("sync", WARNING, f"{provider} syncs {', '.join(labels)}: sync clients lock fresh files "
                 "(WinError 32) and fill the disk with copies", details, "\n".join(lines), SECTION_SYNC)


def check_disk(ck: Checkup) -> None:
    p = ck.paths
    volumes: dict[Any, list[tuple[str, Path]]] = {}
    for label, folder in (("local_models", p.local_models), ("model_cache", p.model_cache)):
        try:
            key: Any = os.stat(folder).st_dev
        except OSError:
            key = label
        volumes.setdefault(key, []).append((label, folder))
    for members in volumes.values():
        labels = " and ".join(label for label, _ in members)
        folder = members[0][1]
        try:
            usage = ck.disk_usage(folder)
        except OSError as exc:
            ck.add("disk", WARNING, f"Cannot tell the free space for {labels}: {exc}")
            continue
        summary = f"{human_size(usage.free)} free of {human_size(usage.total)} on the disk of {labels}"
        details = [str(f) for _, f in members]
        fix = (
            "Free some space on that disk (empty the Recycle Bin, delete old transcripts in "
            f"{p.outputs}, remove unused models: {ck.setup_cmd('--remove NAME')}), or move Chunky's "
            f"data to a larger disk with CHUNKY_HOME: {ck.set_home_cmd()}"
        )
        if usage.free < LOW_DISK_PROBLEM:
            ck.add("disk", PROBLEM, "Almost no disk space left: " + summary, details, fix, SECTION_MOVE)
        elif usage.free < LOW_DISK_WARNING:
            ck.add("disk", WARNING, f"Low disk space (under {human_size(LOW_DISK_WARNING)}): " + summary,
                     details, fix, SECTION_MOVE)
        else:
            ck.add("disk", OK, summary)


def check_antivirus(ck: Checkup) -> None:
    if not ck.windows:
        return
    p = ck.paths
    ck.add(
        "antivirus", OK,
        "Windows Defender exclusions: not checked (reading them needs administrator rights)",
        ["scanners lock the files Chunky writes (WinError 32); an exclusion of model_cache avoids that"],
        "Recommended once. " + ck.defender_lines(p.model_cache, p.local_models)
        + "\nWith another antivirus, add the same folders to its exclusions.",
        SECTION_DEFENDER,
    )


DELAYS_ENV = "CHUNKY_LOCK_RETRY_DELAYS"


def check_retry_setting(ck: Checkup) -> None:
    from chunky.base.retry import DEFAULT_DELAYS

    raw = _getenv(ck.env, DELAYS_ENV)
    if not raw:
        return
    if "lock_retry_delays" in ck.settings.rejected:
        default = ",".join(f"{d:g}" for d in DEFAULT_DELAYS)
        ck.add("retries", WARNING, f"{DELAYS_ENV}={raw!r} is ignored: not a list of seconds",
                 fix=f"Set it to comma-separated seconds, e.g. {DELAYS_ENV}={default}, or remove it.",
                 section=SECTION_LOCKS)
        return
    delays = ck.settings.lock_retry_delays
    total = sum(delays)
    ck.add("retries", OK, f"Locked files are retried {len(delays)} time(s) over {total:g} s "
             f"({DELAYS_ENV}={raw})")
