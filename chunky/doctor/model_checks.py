"""The local models: archive present, extracted, manifest verified."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chunky.doctor.context import SECTION_FOLDERS, SECTION_LOCKS, SECTION_MODELS, Checkup
from chunky.doctor.probes import _quote
from chunky.doctor.report import OK, PROBLEM, WARNING

if TYPE_CHECKING:
    from chunky.models.store import ModelInfo, ModelStore



def check_models(ck: Checkup, store: ModelStore | None, verify: bool) -> None:
    from chunky.base.errors import ChunkyError

    if store is None:
        from chunky.models.store import ModelStore

        try:
            store = ModelStore(ck.paths.local_models, ck.paths.extracted)
        except (OSError, ChunkyError) as exc:
            ck.add("models", PROBLEM, f"Cannot open the model folders: {exc}",
                     fix="Check that local_models and model_cache exist and are writable.",
                     section=SECTION_FOLDERS)
            return
    try:
        models = store.list_models()
        sources = store.sources.all()
    except (OSError, ChunkyError) as exc:
        ck.add("models", PROBLEM, f"Cannot list the models in {store.local_models}: {exc}",
                 fix="Check that the folder exists and is readable.", section=SECTION_FOLDERS)
        return
    names = {m.name for m in models}
    gone = {n: e for n, e in sources.items() if n not in names}
    if not models:
        ck.add("models", PROBLEM, f"No model in {store.local_models}: nothing can be transcribed yet",
                 fix=f"In a terminal in {ck.paths.app_root}, download the default model "
                 f"(nvidia/parakeet-tdt-0.6b-v2):\n  {ck.setup_cmd('')}\n"
                 f"or import a .nemo file you have:\n  {ck.setup_cmd('--import PATH.nemo')}",
                 section=SECTION_MODELS)
    for model in models:
        check_model(ck, store, model, sources.get(model.name) or {}, verify)
    for name, entry in sorted(gone.items()):
        ck.add(f"model:{name}", WARNING,
                 f"{name}: its .nemo file and its extracted folder are both gone",
                 [f"was {entry.get('source', 'added')} ({entry.get('original') or 'no original path'})"],
                 "Get it again: " + ck.in_app(get_again_cmd(ck, name, entry))
                 + f"\n  or forget it: {ck.setup_cmd('--remove ' + name)}", SECTION_MODELS)


def get_again_cmd(ck: Checkup, name: str, entry: dict[str, Any]) -> str:
    source = str(entry.get("source") or "")
    if source.startswith("hub:"):
        return ck.setup_cmd(source[len("hub:"):])
    original = entry.get("original")
    if original:
        return ck.setup_cmd(f"--import {_quote(original)} --name {name}")
    return ck.setup_cmd(f"--import PATH.nemo --name {name}")


def check_model(ck: Checkup, store: ModelStore, m: ModelInfo, entry: dict[str, Any], verify: bool) -> None:
    from chunky.base.errors import ChunkyError, FileLockedError
    from chunky.base.fs import human_size

    check = f"model:{m.name}"
    folder = store.extracted_root / m.name
    needs_verify = (
        verify or m.archive is None or m.verified is False or (not m.extracted and folder.is_dir())
    )
    result = None
    if needs_verify:
        try:
            result = store.verify(m.name)
        except FileLockedError as exc:
            fix = "Close other programs using the model (another Chunky), then run the doctor again."
            if ck.windows:
                fix += "\n" + ck.defender_lines(ck.paths.model_cache, ck.paths.local_models)
            ck.add(check, PROBLEM, f"{m.name}: a file stayed locked while checking it", [str(exc)], fix,
                     SECTION_LOCKS)
            return
        except (ChunkyError, OSError) as exc:
            ck.add(check, PROBLEM, f"{m.name}: cannot be checked: {exc}",
                     fix=f"Get it again: {ck.in_app(get_again_cmd(ck, m.name, entry))}",
                     section=SECTION_MODELS)
            return
    get_again = get_again_cmd(ck, m.name, entry)
    details = [f"source: {m.source}", f"size: {human_size(m.size)}"]
    if result is not None:
        details += result.problems[:8] + [f"({note})" for note in result.notes]
    if m.archive is None:
        assert result is not None
        if result.ok:
            ck.add(check, WARNING, f"{m.name}: only its extracted folder is left ({m.name}.nemo is "
                     f"not in {store.local_models})", details,
                     "It still works, but cannot be extracted again or fully verified. Put the archive "
                     f"back: {ck.in_app(get_again)}", SECTION_MODELS)
        else:
            ck.add(check, PROBLEM,
                     f"{m.name}: the extracted folder is damaged and {m.name}.nemo is gone", details,
                     f"Get the model again: {ck.in_app(get_again)}", SECTION_MODELS)
        return
    reextract = ck.setup_cmd(f"--import {_quote(m.archive)}")
    if result is not None and not result.ok:
        archive_problems = [p for p in result.problems if not p.startswith("extracted ")]
        if archive_problems:
            if str(entry.get("source") or m.source).startswith("hub:"):
                fix = ("Download it again: " + ck.in_app(ck.setup_cmd(f"--remove {m.name}"))
                       + f"\n  then: {get_again}")
            else:
                fix = (f"Replace {m.archive} with a good copy (copy or download it again), then: "
                       f"{ck.in_app(reextract)}")
            ck.add(check, PROBLEM, f"{m.name}: the archive {m.archive.name} is damaged", details, fix,
                     SECTION_MODELS)
        else:
            ck.add(check, PROBLEM, f"{m.name}: the extracted folder does not match its manifest",
                     details, f"Chunky extracts it again from {m.archive.name} on its next use; to do it "
                     f"now: {ck.in_app(reextract)}", SECTION_MODELS)
        return
    if m.extracted or (result is not None and not result.notes):
        if result is not None:
            state = "extracted, verified now"
        elif m.verified:
            state = "extracted, verified"
        else:
            state = "extracted (quick check passed; `python -m chunky doctor --verify` reads every file)"
        ck.add(check, OK, f"{m.name}: {state}", details)
        return
    why = "its extracted folder is out of date" if folder.is_dir() else "not extracted yet"
    ck.add(check, WARNING, f"{m.name}: {why}; its first use extracts it (needs time and "
             f"{human_size(m.size)} of disk)", details, f"To extract it now: {ck.in_app(reextract)}",
             SECTION_MODELS)
