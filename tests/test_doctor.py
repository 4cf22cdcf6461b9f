"""``python -m chunky doctor`` on simulated machines (OneDrive, Dropbox, Google Drive, broken temp
redirection, full disks, damaged models, GPU set-ups), plus the Windows guide's sections that messages
point to.

No NeMo and no torch: the GPU probes are injected, the models are fake but structurally real .nemo files.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from chunky.base.errors import FileLockedError
from chunky.base.retry import WINDOWS_DOC_HINT
from chunky.bootstrap import AppPaths
from chunky.doctor import collect, format_report
from chunky.doctor.context import SECTION_LOCKS, SECTION_MODELS, SECTION_SYNC, SECTIONS
from chunky.doctor.probes import GB, GpuDevice, NvidiaSmiGpu, NvidiaSmiInfo, TorchInfo, is_inside, synced_by
from chunky.doctor.report import DOC, OK, PROBLEM, WARNING, Finding, Report
from chunky.models.store import ModelStore
from tests.nemo_archives import build_nemo, truncated_copy

REPO = Path(__file__).resolve().parent.parent
WINDOWS_DOC = REPO / "docs" / "windows.md"
NO_DELAYS = (0, 0, 0)
VERSIONS = {"torch": "2.7.0+cu128", "nemo_toolkit": "2.4.0", "gradio": "5.0.0"}


# --- a simulated machine ---------------------------------------------------------------------------------


def make_paths(app_root: Path) -> AppPaths:
    model_cache = app_root / "model_cache"
    tmp_root = model_cache / "tmp"
    tmp = tmp_root / "1234-abcdef12"
    paths = AppPaths(
        app_root=app_root,
        local_models=app_root / "local_models",
        model_cache=model_cache,
        tmp_root=tmp_root,
        tmp=tmp,
        extracted=model_cache / "extracted",
        outputs=model_cache / "outputs",
        gradio_tmp=tmp / "gradio",
        fallback=False,
    )
    for folder in (paths.local_models, paths.extracted, paths.outputs, paths.gradio_tmp):
        folder.mkdir(parents=True, exist_ok=True)
    return paths


def redirected_env(paths: AppPaths, user: Path, **extra: str) -> dict[str, str]:
    """The environment Chunky's bootstrap leaves behind, on a Windows-like user profile."""
    return {
        "TEMP": str(paths.tmp),
        "TMP": str(paths.tmp),
        "TMPDIR": str(paths.tmp),
        "GRADIO_TEMP_DIR": str(paths.gradio_tmp),
        "USERPROFILE": str(user),
        "APPDATA": str(user / "AppData" / "Roaming"),
        "LOCALAPPDATA": str(user / "AppData" / "Local"),
        **extra,
    }


def plenty(_path: Path) -> SimpleNamespace:
    return SimpleNamespace(total=500 * GB, used=100 * GB, free=400 * GB)


def disk_with_free(free: float):
    return lambda _path: SimpleNamespace(total=500 * GB, used=500 * GB - free, free=free)


def open_store(paths: AppPaths) -> ModelStore:
    return ModelStore(paths.local_models, paths.extracted, retry_delays=NO_DELAYS, sleep=lambda s: None)


def diagnose(paths: AppPaths, env: dict[str, str], store: ModelStore | None = None, **kwargs) -> Report:
    kwargs.setdefault("probe_gpu", False)
    kwargs.setdefault("windows", True)
    kwargs.setdefault("tempdir", str(paths.tmp))
    kwargs.setdefault("disk_usage", plenty)
    kwargs.setdefault("version_of", VERSIONS.get)
    kwargs.setdefault("which", lambda name: None)
    return collect(paths, env, store or open_store(paths), **kwargs)


def findings(report: Report, check: str, level: str | None = None) -> list[Finding]:
    return [f for f in report.findings if f.check == check and (level is None or f.level == level)]


def ready_model(store: ModelStore, name: str = "demo") -> Path:
    build_nemo(store.local_models / f"{name}.nemo")
    return store.ensure_extracted(name)


@pytest.fixture()
def user(tmp_path: Path) -> Path:
    folder = tmp_path / "Users" / "me"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture()
def clean(user: Path) -> tuple[AppPaths, dict[str, str]]:
    paths = make_paths(user.parent.parent / "Chunky")
    return paths, redirected_env(paths, user)


# --- a clean machine ---------------------------------------------------------------------------------------


def test_clean_machine_has_no_problem_and_no_warning(clean):
    paths, env = clean
    store = open_store(paths)
    ready_model(store)
    report = diagnose(paths, env, store, windows=False)
    assert report.ok and report.exit_code == 0
    assert report.warnings == [], format_report(report)
    assert findings(report, "sync", OK) and findings(report, "temp", OK) and findings(report, "disk", OK)
    assert findings(report, "model:demo", OK)
    assert report.versions["nemo_toolkit"] == "2.4.0"
    assert report.folders["model_cache"] == str(paths.model_cache)
    text = format_report(report)
    assert "Everything looks fine." in text and "[ok]" in text


def test_windows_adds_the_defender_exclusion_line_never_runs_it(clean):
    paths, env = clean
    report = diagnose(paths, env, windows=True)
    (tip,) = findings(report, "antivirus")
    assert tip.level == OK  # cannot be checked without admin rights: a tip, not a warning
    assert f'Add-MpPreference -ExclusionPath "{paths.model_cache}"' in tip.fix
    assert f'Add-MpPreference -ExclusionPath "{paths.local_models}"' in tip.fix
    assert "administrator" in tip.fix
    assert not findings(diagnose(paths, env, windows=False), "antivirus")


def test_collect_is_fast_without_the_gpu_probe(clean):
    paths, env = clean
    store = open_store(paths)
    ready_model(store)
    start = time.perf_counter()
    diagnose(paths, env, store)
    assert time.perf_counter() - start < 3


# --- sync clients ---------------------------------------------------------------------------------------


def test_model_cache_in_the_onedrive_folder_named_by_the_environment(user):
    onedrive = user / "OneDrive"
    paths = make_paths(onedrive / "Documents" / "Chunky")
    report = diagnose(paths, redirected_env(paths, user, OneDrive=str(onedrive)))
    (warning,) = findings(report, "sync")
    assert warning.level == WARNING
    assert "OneDrive" in warning.summary and "model_cache" in warning.summary
    assert "the app folder" in warning.summary  # the whole install is synced: .venv too
    assert 'setx CHUNKY_HOME "C:\\ChunkyData"' in warning.fix
    assert "Always keep on this device" in warning.fix
    assert warning.section == SECTION_SYNC
    assert not findings(report, "sync", PROBLEM)  # a warning, not a problem


def test_onedrive_for_business_variable_with_any_folder_name(user, tmp_path):
    synced = tmp_path / "CorpFiles"
    paths = make_paths(tmp_path / "Chunky")
    data = make_paths(synced / "ChunkyData")
    moved = dataclasses.replace(data, app_root=paths.app_root)  # CHUNKY_HOME inside the synced folder
    report = diagnose(moved, redirected_env(moved, user, OneDriveCommercial=str(synced)))
    (warning,) = findings(report, "sync")
    assert "OneDrive syncs local_models, model_cache:" in warning.summary
    assert "app folder" not in warning.summary


def test_onedrive_found_by_folder_name_alone(user, tmp_path):
    paths = make_paths(tmp_path / "OneDrive - Contoso" / "Chunky")
    (warning,) = findings(diagnose(paths, redirected_env(paths, user)), "sync")
    assert "OneDrive" in warning.summary


@pytest.mark.parametrize("appdata_var", ["APPDATA", "LOCALAPPDATA"])
def test_dropbox_folder_from_its_info_json(user, tmp_path, appdata_var):
    synced = tmp_path / "Team Files"  # Dropbox may live anywhere: info.json says where
    paths = make_paths(synced / "Chunky")
    env = redirected_env(paths, user)
    info = Path(env[appdata_var]) / "Dropbox" / "info.json"
    info.parent.mkdir(parents=True)
    info.write_text(json.dumps({"personal": {"path": str(synced), "host": 1, "is_team": False}}), "utf-8")
    (warning,) = findings(diagnose(paths, env), "sync")
    assert "Dropbox" in warning.summary
    assert str(synced) in warning.details[0]
    assert "com.dropbox.ignored" in warning.fix


def test_unreadable_dropbox_info_json_is_ignored(clean):
    paths, env = clean
    info = Path(env["APPDATA"]) / "Dropbox" / "info.json"
    info.parent.mkdir(parents=True)
    info.write_text("{not json", "utf-8")
    assert findings(diagnose(paths, env), "sync", OK)


@pytest.mark.parametrize("parts", [("Google Drive",), ("GoogleDrive",), ("G", "My Drive")])
def test_google_drive_folders(user, tmp_path, parts):
    paths = make_paths(tmp_path.joinpath(*parts, "Chunky"))
    (warning,) = findings(diagnose(paths, redirected_env(paths, user)), "sync")
    assert warning.summary.startswith("Google Drive syncs")
    assert "cannot exclude" in warning.fix


def test_icloud_drive_folder(user, tmp_path):
    paths = make_paths(tmp_path / "iCloudDrive" / "Chunky")
    (warning,) = findings(diagnose(paths, redirected_env(paths, user)), "sync")
    assert "iCloud Drive" in warning.summary


def test_sync_detection_helpers(tmp_path):
    root = tmp_path / "OneDrive"
    assert is_inside(root / "a" / "b", root)
    assert is_inside(root, root)
    assert not is_inside(tmp_path / "OneDriveX", root)  # a prefix of the name is not inside
    assert synced_by(tmp_path / "Dropbox (Personal)" / "x", []) == [
        ("Dropbox", tmp_path / "Dropbox (Personal)")
    ]
    assert synced_by(tmp_path / "MyDropboxNotes" / "x", []) == []


# --- temp redirection -----------------------------------------------------------------------------------


def test_temp_redirection_not_in_effect(clean, system_temp):
    paths, env = clean
    for var in ("TEMP", "TMP", "TMPDIR"):
        env[var] = str(system_temp)
    del env["GRADIO_TEMP_DIR"]
    report = diagnose(paths, env, tempdir=str(system_temp))
    (problem,) = findings(report, "temp")
    assert problem.level == PROBLEM and report.exit_code == 1
    assert str(system_temp) in problem.summary and "GRADIO_TEMP_DIR=(not set)" in problem.summary
    assert "run.bat" in problem.fix and str(paths.tmp_root) in problem.fix
    assert "Add-MpPreference" not in problem.fix  # never advise excluding the system temp folder
    assert problem.section == SECTION_LOCKS


def test_one_variable_reset_is_enough_to_be_a_problem(clean, system_temp):
    paths, env = clean
    env["TMP"] = str(system_temp)
    (problem,) = findings(diagnose(paths, env), "temp")
    assert problem.level == PROBLEM and f"TMP={system_temp}" in problem.summary
    assert "TEMP=" not in problem.summary


# --- disk space -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("free", "level"), [(400 * GB, OK), (3 * GB, WARNING), (0.4 * GB, PROBLEM)]
)
def test_disk_space_thresholds(clean, free, level):
    paths, env = clean
    report = diagnose(paths, env, disk_usage=disk_with_free(free))
    (finding,) = findings(report, "disk")  # both folders on one disk: one finding
    assert finding.level == level
    assert "local_models and model_cache" in finding.summary
    if level != OK:
        assert "CHUNKY_HOME" in finding.fix and "--remove NAME" in finding.fix


def test_disk_usage_failure_is_a_warning_not_a_crash(clean):
    paths, env = clean

    def broken(_path):
        raise OSError("no such device")

    (finding,) = findings(diagnose(paths, env, disk_usage=broken), "disk")
    assert finding.level == WARNING and "no such device" in finding.summary


# --- models ---------------------------------------------------------------------------------------------


def test_no_model_at_all_is_a_problem(clean):
    paths, env = clean
    report = diagnose(paths, env)
    (problem,) = findings(report, "models")
    assert problem.level == PROBLEM and "setup_local_models.py" in problem.fix
    assert "--import PATH.nemo" in problem.fix


def test_archive_gone_only_extracted_folder_left(clean):
    paths, env = clean
    store = open_store(paths)
    archive = build_nemo(paths.local_models / "parakeet.nemo")
    store.ensure_extracted("parakeet")
    store.sources.set("parakeet", "hub:nvidia/parakeet", size=archive.stat().st_size)
    archive.unlink()
    report = diagnose(paths, env, store)
    (warning,) = findings(report, "model:parakeet")
    assert warning.level == WARNING and "only its extracted folder is left" in warning.summary
    assert "setup_local_models.py nvidia/parakeet" in warning.fix
    assert report.ok  # it still works


def test_archive_gone_and_extracted_folder_damaged(clean):
    paths, env = clean
    store = open_store(paths)
    archive = build_nemo(paths.local_models / "mine.nemo")
    folder = store.ensure_extracted("mine")
    store.sources.set("mine", "imported", size=archive.stat().st_size, original="D:/models/mine.nemo")
    archive.unlink()
    (folder / "model_weights.ckpt").unlink()
    (problem,) = findings(diagnose(paths, env, store), "model:mine")
    assert problem.level == PROBLEM and "gone" in problem.summary
    assert '--import "D:/models/mine.nemo" --name mine' in problem.fix


def test_archive_and_folder_both_gone_but_recorded(clean):
    paths, env = clean
    store = open_store(paths)
    ready_model(store, "kept")
    store.sources.set("vanished", "hub:nvidia/vanished", size=123)
    report = diagnose(paths, env, store)
    (warning,) = findings(report, "model:vanished")
    assert warning.level == WARNING and "both gone" in warning.summary
    assert "setup_local_models.py nvidia/vanished" in warning.fix
    assert "--remove vanished" in warning.fix
    assert findings(report, "model:kept", OK)


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_damaged_extracted_folder_is_a_problem_with_a_fix_that_works(clean, damage):
    paths, env = clean
    store = open_store(paths)
    folder = ready_model(store)
    weights = folder / "model_weights.ckpt"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:100])
    else:
        weights.unlink()
    report = diagnose(paths, env, store)
    (problem,) = findings(report, "model:demo")
    assert problem.level == PROBLEM and report.exit_code == 1
    assert "does not match its manifest" in problem.summary
    assert any("model_weights.ckpt" in d for d in problem.details)
    archive = paths.local_models / "demo.nemo"
    assert f'setup_local_models.py --import "{archive}"' in problem.fix
    assert problem.section == SECTION_MODELS
    store.import_archive(archive)  # what the printed command does
    assert findings(diagnose(paths, env, store), "model:demo", OK)


def test_changed_bytes_of_the_same_size_need_verify(clean):
    paths, env = clean
    store = open_store(paths)
    folder = ready_model(store)
    weights = folder / "model_weights.ckpt"
    data = bytearray(weights.read_bytes())
    data[10] ^= 0xFF
    weights.write_bytes(bytes(data))
    quick = findings(diagnose(paths, env, store), "model:demo")[0]
    assert quick.level == OK and "quick check passed" in quick.summary
    (problem,) = findings(diagnose(paths, env, store, verify=True), "model:demo")
    assert problem.level == PROBLEM and any("differs from the archive" in d for d in problem.details)
    # the failed verify is recorded: the next quick look already knows
    assert findings(diagnose(paths, env, store), "model:demo")[0].level == PROBLEM


def test_verify_of_a_healthy_model(clean):
    paths, env = clean
    store = open_store(paths)
    ready_model(store)
    (finding,) = findings(diagnose(paths, env, store, verify=True), "model:demo")
    assert finding.level == OK and "verified now" in finding.summary
    (again,) = findings(diagnose(paths, env, store), "model:demo")
    assert again.summary.endswith("extracted, verified")


def test_damaged_archive_downloaded_from_the_hub(clean, tmp_path):
    paths, env = clean
    store = open_store(paths)
    ready_model(store)
    archive = paths.local_models / "demo.nemo"
    store.sources.set("demo", "hub:nvidia/demo", size=archive.stat().st_size)
    good = archive.rename(tmp_path / "good.nemo")
    truncated_copy(good, archive, 2000)
    (problem,) = findings(diagnose(paths, env, store), "model:demo")
    assert problem.level == PROBLEM and "archive demo.nemo is damaged" in problem.summary
    assert "--remove demo" in problem.fix and "setup_local_models.py nvidia/demo" in problem.fix


def test_not_extracted_yet_is_a_warning(clean):
    paths, env = clean
    build_nemo(paths.local_models / "fresh.nemo")
    (warning,) = findings(diagnose(paths, env), "model:fresh")
    assert warning.level == WARNING and "not extracted yet" in warning.summary
    assert "--import" in warning.fix


def test_locked_file_while_verifying(clean, monkeypatch):
    paths, env = clean
    store = open_store(paths)
    ready_model(store)

    def locked(name):
        raise FileLockedError("The file x stayed locked by another program while verifying")

    monkeypatch.setattr(store, "verify", locked)
    (problem,) = findings(diagnose(paths, env, store, verify=True), "model:demo")
    assert problem.level == PROBLEM and problem.section == SECTION_LOCKS
    assert f'Add-MpPreference -ExclusionPath "{paths.model_cache}"' in problem.fix


# --- GPU ------------------------------------------------------------------------------------------------


def gpu_report(paths, env, torch: TorchInfo, smi: NvidiaSmiInfo) -> list[Finding]:
    report = diagnose(paths, env, probe_gpu=True, torch_probe=lambda: torch, smi_probe=lambda path: smi,
                      which=lambda name: "/usr/bin/nvidia-smi" if smi.path else None)
    return findings(report, "gpu")


def test_gpu_available(clean):
    paths, env = clean
    torch = TorchInfo("2.7.0+cu128", cuda_build="12.8", cuda_available=True,
                      devices=[GpuDevice("NVIDIA GeForce RTX 4070", 12 * GB, 10 * GB)])
    smi = NvidiaSmiInfo("/usr/bin/nvidia-smi", gpus=[NvidiaSmiGpu("RTX 4070", "576.02", 12282)])
    (finding,) = gpu_report(paths, env, torch, smi)
    assert finding.level == OK
    assert "RTX 4070" in finding.summary and "12.0 GB memory" in finding.summary
    assert "10.0 GB free" in finding.summary
    assert "driver 576.02" in finding.details


def test_cpu_only_torch_on_a_pc_with_an_nvidia_gpu(clean):
    paths, env = clean
    smi = NvidiaSmiInfo("/usr/bin/nvidia-smi", gpus=[NvidiaSmiGpu("RTX 3060", "572.16", 12288)])
    (finding,) = gpu_report(paths, env, TorchInfo("2.13.0+cpu"), smi)
    assert finding.level == WARNING and "CPU-only build" in finding.summary and "RTX 3060" in finding.summary
    assert ".venv" in finding.fix and "run.bat" in finding.fix


def test_no_gpu_no_driver(clean):
    paths, env = clean
    (finding,) = gpu_report(paths, env, TorchInfo("2.13.0+cpu"), NvidiaSmiInfo(None))
    assert finding.level == WARNING and "No NVIDIA GPU found" in finding.summary
    assert "nvidia-smi not found" in " ".join(finding.details)


def test_cuda_build_with_an_old_driver(clean):
    paths, env = clean
    smi = NvidiaSmiInfo("/usr/bin/nvidia-smi", gpus=[NvidiaSmiGpu("GTX 1080", "531.79", 8192)])
    (finding,) = gpu_report(paths, env, TorchInfo("2.7.0+cu128", cuda_build="12.8"), smi)
    assert finding.level == WARNING and "531.79 is too old" in finding.summary
    assert "570 or newer" in finding.fix


def test_cuda_build_without_a_driver(clean):
    paths, env = clean
    (finding,) = gpu_report(paths, env, TorchInfo("2.7.0+cu128", cuda_build="12.8"), NvidiaSmiInfo(None))
    assert finding.level == WARNING and "nvidia-smi is missing" in finding.summary


def test_torch_that_cannot_load_its_dlls(clean):
    paths, env = clean
    torch = TorchInfo("2.7.0+cu128", imported=False,
                      error='OSError: [WinError 126] Error loading "c10.dll" or one of its dependencies.')
    (finding,) = gpu_report(paths, env, torch, NvidiaSmiInfo(None))
    assert finding.level == PROBLEM and "vc_redist" in finding.fix


def test_bad_chunky_device_and_forced_cpu(clean):
    paths, env = clean
    torch = TorchInfo("2.7.0+cu128", cuda_build="12.8", cuda_available=True,
                      devices=[GpuDevice("RTX 4090", 24 * GB)])
    env["CHUNKY_DEVICE"] = "gpu0"
    bad = gpu_report(paths, env, torch, NvidiaSmiInfo(None))
    assert [f.level for f in bad] == [PROBLEM, OK] and "auto, cpu or cuda" in bad[0].fix
    env["CHUNKY_DEVICE"] = "cpu"
    (forced,) = gpu_report(paths, env, torch, NvidiaSmiInfo(None))
    assert forced.level == WARNING and "CHUNKY_DEVICE" in forced.fix


def test_missing_packages(clean):
    paths, env = clean
    report = diagnose(paths, env, version_of={"torch": "2.7.0"}.get)
    (problem,) = findings(report, "packages")
    assert problem.level == PROBLEM and "NeMo" in problem.summary and "Gradio" in problem.summary
    assert "pip install -r requirements.txt" in problem.fix


def test_invalid_retry_setting(clean):
    paths, env = clean
    env["CHUNKY_LOCK_RETRY_DELAYS"] = "soon"
    (warning,) = findings(diagnose(paths, env), "retries")
    assert warning.level == WARNING and "0.5,1,2,4,8" in warning.fix
    env["CHUNKY_LOCK_RETRY_DELAYS"] = "1,2,4"
    (ok,) = findings(diagnose(paths, env), "retries")
    assert ok.level == OK and "3 time(s) over 7 s" in ok.summary


# --- output ---------------------------------------------------------------------------------------------


def test_text_and_json_output(clean, system_temp):
    paths, env = clean
    env["TEMP"] = str(system_temp)
    report = diagnose(paths, env)
    text = format_report(report)
    assert "[PROBLEM] Temporary files are not redirected" in text
    assert f"(see docs/windows.md, section '{SECTION_LOCKS}')" in text
    assert "fix: " in text and re.search(r"Found \d+ problems?", text)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["problems"] == len(report.problems)
    assert {f["level"] for f in data["findings"]} <= {OK, WARNING, PROBLEM}
    assert all(f["fix"] for f in data["findings"] if f["level"] == PROBLEM)


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHUNKY_HOME": str(home)}
    for var in ("TMPDIR", "TEMP", "TMP", "GRADIO_TEMP_DIR"):  # let the child's bootstrap choose
        env.pop(var, None)
    return subprocess.run([sys.executable, "-m", "chunky", "doctor", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_exit_status_and_json(tmp_path):
    home = tmp_path / "home"
    empty = run_cli(home, "--json", "--no-gpu")
    assert empty.returncode == 1, empty.stderr
    data = json.loads(empty.stdout)
    assert data["ok"] is False
    assert any(f["check"] == "models" and f["level"] == PROBLEM for f in data["findings"])
    temp = next(f for f in data["findings"] if f["check"] == "temp")
    assert temp["level"] == OK  # the child's bootstrap redirected its temp folder

    store = ModelStore(home / "local_models", home / "model_cache" / "extracted")
    ready_model(store)
    ready = run_cli(home, "--no-gpu")
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert "Chunky doctor" in ready.stdout and "demo: extracted" in ready.stdout


def test_cli_registers_the_command():
    from chunky.cli.main import build_parser

    args = build_parser().parse_args(["doctor", "--json", "--verify", "--no-gpu"])
    assert args._target == "chunky.cli.doctor:run_doctor"
    assert args.json and args.verify and args.no_gpu


# --- docs/windows.md: every section a message points to exists ----------------------------------------


def headings(markdown: str) -> list[str]:
    out, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"^#{1,6}\s+(.+?)\s*#*\s*$", line)):
            out.append(m.group(1).strip())
    return out


def github_anchor(heading: str) -> str:
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


REFERENCE = re.compile(r"docs[/\\]windows\.md(?P<rest>.{0,80})", re.DOTALL)
SECTION_NAME = re.compile(r"""^(?:#(?P<anchor>[\w-]+)|,?\s*section\s*(?P<q>['"])(?P<name>.+?)(?P=q))""")


def string_literals(source: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal; an f-string's placeholders read as ``{}``."""
    tree = ast.parse(source.read_text("utf-8"))
    in_fstrings = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            out.append((node.lineno, text))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in in_fstrings:
            out.append((node.lineno, node.value))
    return sorted(out)


def guide_references(folder: Path) -> list[tuple[str, str, str | None, str | None]]:
    """(where, literal, section name, anchor) for every mention of docs/windows.md in folder/*.py."""
    out = []
    for source in sorted(folder.rglob("*.py")):
        for line_no, text in string_literals(source):
            for ref in REFERENCE.finditer(text):
                named = SECTION_NAME.match(ref.group("rest"))
                name = named.group("name") if named else None
                anchor = named.group("anchor") if named else None
                out.append((f"{source.relative_to(folder).as_posix()}:{line_no}", text, name, anchor))
    return out


def test_the_reference_scan_reads_joined_and_f_strings(tmp_path):
    (tmp_path / "m.py").write_text(
        'def f(x):\n'
        '    # a comment naming docs/windows.md is not a message\n'
        '    raise ValueError(f"{x} failed (see docs/windows.md, "\n'
        '                     "section \'Somewhere else\')")\n'
        'HINT = "docs/windows.md#winerror-32-file-in-use"\n',
        "utf-8",
    )
    refs = guide_references(tmp_path)
    assert [(name, anchor) for _, _, name, anchor in refs] == [
        ("Somewhere else", None), (None, "winerror-32-file-in-use")
    ]


def test_windows_guide_sections_named_in_messages_exist():
    titles = headings(WINDOWS_DOC.read_text("utf-8"))
    assert len(titles) == len(set(titles)), "duplicate headings make section references ambiguous"
    anchors = {github_anchor(t) for t in titles}
    refs = guide_references(REPO / "chunky")
    for where, text, name, anchor in refs:
        if anchor is not None:
            assert anchor in anchors, f"{where}: no heading for #{anchor}"
        elif name is not None:
            assert name in titles, f"{where}: no section {name!r} in docs/windows.md"
        else:  # only the doctor's DOC constant names the guide alone (its findings carry a section)
            assert where.startswith("doctor/") and text == DOC, (
                f"{where} points to docs/windows.md without naming a section: {text!r}"
            )
    assert any(where.startswith("base/retry.py") and name for where, _, name, _ in refs)


def test_doctor_sections_and_retry_hint_exist():
    titles = headings(WINDOWS_DOC.read_text("utf-8"))
    for section in SECTIONS:
        assert section in titles
    assert "WinError 32: file in use" in titles
    assert "'WinError 32: file in use'" in WINDOWS_DOC_HINT


def test_links_into_the_windows_guide_resolve():
    anchors = {github_anchor(t) for t in headings(WINDOWS_DOC.read_text("utf-8"))}
    for doc in (REPO / "README.md", WINDOWS_DOC):
        text = doc.read_text("utf-8")
        for anchor in re.findall(r"\((?:docs/)?windows\.md#([\w-]+)\)|\]\(#([\w-]+)\)", text):
            name = anchor[0] or anchor[1]
            assert name in anchors, f"{doc.name}: broken link to #{name}"
