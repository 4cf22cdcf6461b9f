"""Load benchmark: how long a parakeet-sized NeMo model takes to load, NeMo's way vs Chunky's vs the floor.

    python bench/load.py [--work DIR] [--repeats 3] [--write-results]

Builds (once, cached) a FastConformer-TDT of parakeet-tdt-0.6b-v2's shape with random weights (~618M
parameters, a 2.5 GB .nemo), extracts it once, then times, each in a fresh subprocess, interleaved
(A B C D E, A B C D E, ...):

  nemo_default    ASRModel.restore_from(model.nemo, map_location="cpu"): unpacks the tar to a temp dir
  nemo_extracted  the same from the pre-extracted folder (SaveRestoreConnector.model_extracted_dir), no tricks
  chunky          chunky.models.manager.restore_extracted(folder, "cpu"): no random init, weights
                  memory-mapped
  chunky_assign   experiment: chunky + load_state_dict(assign=True): parameters become the mapped tensors
  chunky_slim     experiment: chunky_assign + a config without the vocabulary lists NeMo rebuilds anyway
  floor           torch.load(model_weights.ckpt, map_location="cpu"), read fully into memory

Every timing starts after `import nemo.collections.asr` (measured apart, "import") and ends when the model
is ready (model.eval() done); the floor ends when the state dict is in memory. "touch" is the time to then
read one value from every 4 KiB page of every weight: the cost a memory-mapped load defers to first use;
"1st forward" is then the encoder on 4 s of audio, the first inference of that process.
Each worker times the parts of NeMo's restore (tar extraction, module construction, weight init, torch.load,
load_state_dict, ...) by wrapping those functions; the parts are exclusive and add up to the total.
A verify worker checks that Chunky's models hold exactly the weights of NeMo's default restore, with the
same config and encoder output. ``--vocab-check 8192`` (default) also times a small sibling with an
8192-token vocabulary (like parakeet-tdt-0.6b-v3), whose restore is all config handling.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from common import (
    DEFAULT_WORK,
    REPO_ROOT,
    LoadSampler,
    Samples,
    build_parakeet_like,
    extract_model,
    machine_info,
    markdown_table,
    peak_rss_mb,
    rss_mb,
    write_results_section,
)

METHODS: dict[str, str] = {
    "nemo_default": "NeMo `ASRModel.restore_from(.nemo)` (tar unpacked to a temp dir each load)",
    "nemo_extracted": "NeMo `restore_from` with `SaveRestoreConnector.model_extracted_dir` (no tricks)",
    "chunky": "Chunky `restore_extracted(folder, 'cpu')` (skip init + mmap, then copy)",
    "chunky_assign": "experiment: Chunky + `load_state_dict(assign=True)` (weights stay mapped)",
    "chunky_slim": "experiment: `chunky_assign` + config without the vocabulary lists NeMo rebuilds",
    "floor": "`torch.load(model_weights.ckpt)` read fully into memory",
}
DEFAULT_METHODS = list(METHODS)
RESULT_MARK = "BENCH_RESULT "
TARGET_VS_NEMO = 0.5
TARGET_VS_FLOOR = 2.0


# ============================================================================ worker side (subprocess)


class PartTimer:
    """Exclusive wall time per named part: entering a part pauses the enclosing one."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = defaultdict(float)
        self._stack: list[str] = []
        self._t = 0.0

    def enter(self, key: str) -> None:
        now = time.perf_counter()
        if self._stack:
            self.parts[self._stack[-1]] += now - self._t
        self._stack.append(key)
        self._t = now

    def exit(self) -> None:
        now = time.perf_counter()
        self.parts[self._stack.pop()] += now - self._t
        self._t = now

    @contextlib.contextmanager
    def part(self, key: str) -> Iterator[None]:
        self.enter(key)
        try:
            yield
        finally:
            self.exit()

    def wrap(self, owner: Any, attr: str, key: str) -> None:
        """Replace ``owner.attr`` (function, staticmethod, classmethod or __init__) by a timed one."""
        raw = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
        kind = type(raw) if isinstance(raw, (staticmethod, classmethod)) else None
        fn = raw.__func__ if kind else raw
        timer = self

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            timer.enter(key)
            try:
                return fn(*args, **kwargs)
            finally:
                timer.exit()

        timed_call.__name__ = getattr(fn, "__name__", attr)
        timed_call.__wrapped__ = fn  # type: ignore[attr-defined]
        setattr(owner, attr, kind(timed_call) if kind else timed_call)


def install_part_timers(timer: PartTimer) -> None:
    """Wrap the steps of NeMo's restore (3.0.0) so that the worker can tell where the time goes."""
    import torch
    from nemo.collections.asr.losses.rnnt import RNNTLoss
    from nemo.collections.asr.metrics.wer import WER
    from nemo.collections.asr.models.rnnt_bpe_models import EncDecRNNTBPEModel
    from nemo.collections.asr.modules import (
        AudioToMelSpectrogramPreprocessor,
        ConformerEncoder,
        RNNTDecoder,
        RNNTJoint,
        SpectrogramAugmentation,
    )
    from nemo.collections.asr.parts.mixins.mixins import ASRBPEMixin
    from nemo.collections.asr.parts.submodules.rnnt_decoding import RNNTBPEDecoding, RNNTDecoding
    from nemo.core.connectors.save_restore_connector import SaveRestoreConnector

    timer.wrap(SaveRestoreConnector, "_unpack_nemo_file", "tar extraction")
    timer.wrap(SaveRestoreConnector, "_filtered_tar_info", "tar extraction")
    timer.wrap(SaveRestoreConnector, "load_instance_with_state_dict", "load_state_dict")
    timer.wrap(torch, "load", "torch.load")
    timer.wrap(torch.nn.Module, "to", "model.to(device)")
    timer.wrap(EncDecRNNTBPEModel, "__init__", "construct: model (config, ModelPT, other)")
    timer.wrap(ConformerEncoder, "__init__", "construct: encoder modules")
    timer.wrap(AudioToMelSpectrogramPreprocessor, "__init__", "construct: preprocessor")
    timer.wrap(SpectrogramAugmentation, "__init__", "construct: preprocessor")
    timer.wrap(RNNTDecoder, "__init__", "construct: decoder + joint modules")
    timer.wrap(RNNTJoint, "__init__", "construct: decoder + joint modules")
    timer.wrap(ASRBPEMixin, "_setup_tokenizer", "construct: tokenizer")
    timer.wrap(RNNTLoss, "__init__", "construct: TDT loss")
    timer.wrap(RNNTDecoding, "__init__", "construct: decoding setup")
    timer.wrap(RNNTBPEDecoding, "__init__", "construct: decoding setup")
    timer.wrap(WER, "__init__", "construct: WER metric")
    for name in dir(torch.nn.init):
        if name.endswith("_") and not name.startswith("_") and callable(getattr(torch.nn.init, name)):
            timer.wrap(torch.nn.init, name, "construct: random weight init")


def restore_nemo_default(nemo_path: Path) -> Any:
    from nemo.collections.asr.models import ASRModel

    model = ASRModel.restore_from(str(nemo_path), map_location="cpu")
    model.eval()
    return model


def restore_nemo_extracted(folder: Path) -> Any:
    from nemo.collections.asr.models import ASRModel
    from nemo.core.connectors.save_restore_connector import SaveRestoreConnector

    connector = SaveRestoreConnector()
    connector.model_extracted_dir = str(folder)
    cwd = os.getcwd()
    try:
        model = ASRModel.restore_from(str(folder), save_restore_connector=connector, map_location="cpu")
    finally:
        os.chdir(cwd)
    model.eval()
    return model


def import_chunky_models() -> Any:
    import chunky.models.manager

    return chunky.models.manager


def restore_chunky(folder: Path) -> Any:
    restore_extracted = import_chunky_models().restore_extracted

    return restore_extracted(folder, "cpu")


# Config keys that a model class rebuilds from its tokenizer in __init__ (checked in NeMo 3.0.0's source and
# by verify(): the restored cfg equals NeMo's default restore). Dropping them before the restore saves NeMo
# from parsing, wrapping and deep-copying the vocabulary lists several more times.
REBUILT_VOCAB_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "EncDecRNNTBPEModel": (("labels",), ("joint", "vocabulary")),
}


def slim_config(folder: Path) -> Any:
    """model_config.yaml parsed with libyaml (OmegaConf's float rule kept), minus the rebuilt vocab lists.

    Returns a DictConfig for ``restore_from(override_config_path=...)``, or None when the model class is not
    one whose vocabulary lists are rebuilt (then NeMo reads the file itself, as before)."""
    import re

    import yaml
    from omegaconf import OmegaConf

    class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        pass

    # OmegaConf's loader also reads 1e-5 (no dot) as a float; YAML 1.1 alone would make it a string.
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"""^(?:[-+]?[0-9]+(?:_[0-9]+)*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
            |[-+]?[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+)
            |\.[0-9]+(?:_[0-9]+)*(?:[eE][-+][0-9]+)?
            |[-+]?[0-9]+(?:_[0-9]+)*(?::[0-5]?[0-9])+\.[0-9_]*
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""", re.X),
        list("-+0123456789."),
    )
    with open(folder / "model_config.yaml", encoding="utf-8") as fh:
        raw = yaml.load(fh, Loader=Loader)
    cfg = raw.get("model", raw)
    keys = REBUILT_VOCAB_KEYS.get(str(cfg.get("target", "")).rsplit(".", 1)[-1])
    if not keys:
        return None
    for path in keys:
        node = cfg
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return OmegaConf.create(raw)


def restore_proposed(folder: Path, device: str = "cpu", *, slim: bool = False) -> Any:
    """The proposed chunky.models.manager.restore_extracted (fast path): built on the CPU without random
    init, the
    memory-mapped checkpoint tensors become the parameters (``load_state_dict(assign=True)``, no copy),
    then the model moves to ``device`` (on CUDA that is the one copy). ``slim``: see slim_config()."""
    import torch
    from nemo.collections.asr.models import ASRModel
    from nemo.core.connectors.save_restore_connector import SaveRestoreConnector

    cm = import_chunky_models()
    LOAD_LOCK, skip_weight_init = cm.LOAD_LOCK, cm.skip_weight_init  # noqa: N806

    class AssignConnector(SaveRestoreConnector):
        @staticmethod
        def _load_state_dict_from_disk(model_weights, map_location="cpu"):
            return torch.load(model_weights, map_location="cpu", mmap=True, weights_only=True)

        def load_instance_with_state_dict(self, instance, state_dict, strict):
            instance.load_state_dict(state_dict, strict=strict, assign=True)
            instance._set_model_restore_state(is_being_restored=False)

    connector = AssignConnector()
    connector.model_extracted_dir = str(folder)
    with LOAD_LOCK:
        cwd = os.getcwd()
        try:
            override = slim_config(folder) if slim else None
            with skip_weight_init():
                model = ASRModel.restore_from(str(folder), save_restore_connector=connector,
                                              override_config_path=override,
                                              map_location=torch.device("cpu"), strict=True)
        finally:
            os.chdir(cwd)
    if device != "cpu":
        model = model.to(device)
    model.eval()
    return model


def restore_chunky_assign(folder: Path) -> Any:
    return restore_proposed(folder)


def restore_chunky_slim(folder: Path) -> Any:
    return restore_proposed(folder, slim=True)


def load_floor(folder: Path) -> Any:
    import torch

    return torch.load(folder / "model_weights.ckpt", map_location="cpu")


def touch_pages(tensors: Iterator[Any]) -> None:
    """Read one float from every 4 KiB page of every tensor (forces mapped pages in)."""
    import torch

    with torch.no_grad():
        for t in tensors:
            flat = t.detach().reshape(-1)
            step = max(1, 4096 // flat.element_size())
            float(flat[::step].sum())


def worker(method: str, nemo_path: Path, folder: Path, cprofile_out: Path | None) -> dict[str, Any]:
    gc.collect()
    t0 = time.perf_counter()
    import nemo.collections.asr  # noqa: F401 - the import every method pays first, measured apart
    import torch
    from nemo.collections.asr.models import ASRModel  # noqa: F401

    import_s = time.perf_counter() - t0
    timer = PartTimer()
    install_part_timers(timer)
    gc.collect()
    rss_before = rss_mb()
    loaders: dict[str, Callable[[], Any]] = {
        "nemo_default": lambda: restore_nemo_default(nemo_path),
        "nemo_extracted": lambda: restore_nemo_extracted(folder),
        "chunky": lambda: restore_chunky(folder),
        "chunky_assign": lambda: restore_chunky_assign(folder),
        "chunky_slim": lambda: restore_chunky_slim(folder),
        "floor": lambda: load_floor(folder),
    }
    profiler = None
    if cprofile_out is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start = time.perf_counter()
    with timer.part("other (restore_from glue, eval)"):
        obj = loaders[method]()
    load_s = time.perf_counter() - start
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(cprofile_out))
    tensors = list(obj.values()) if isinstance(obj, dict) else list(obj.state_dict().values())
    start = time.perf_counter()
    touch_pages(iter(tensors))
    touch_s = time.perf_counter() - start
    forward_s = None
    if not isinstance(obj, dict):  # the first inference in this process: encoder on 4 s of audio
        torch.manual_seed(0)
        audio = torch.randn(1, 64000) * 0.1
        start = time.perf_counter()
        with torch.inference_mode():
            feats, feat_len = obj.preprocessor(input_signal=audio, length=torch.tensor([64000]))
            obj.encoder(audio_signal=feats, length=feat_len)
        forward_s = time.perf_counter() - start
    if isinstance(obj, dict):
        params = sum(t.numel() for t in tensors)
    else:
        params = sum(p.numel() for p in obj.parameters())
    return {
        "method": method,
        "import_s": import_s,
        "load_s": load_s,
        "touch_s": touch_s,
        "forward_s": forward_s,
        "parts": dict(timer.parts),
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
        "params": params,
        "torch_threads": torch.get_num_threads(),
    }


def verify(nemo_path: Path, folder: Path, methods: list[str]) -> dict[str, Any]:
    """Each method's model holds exactly NeMo's default weights (every state_dict tensor and buffer), has
    the same config, and gives the bit-identical encoder output on the same input. Also times the encoder
    on 4 s of audio, alternating with the reference model (so a busy machine hits both alike): the first
    forward after the load pays for faulting in memory-mapped weights."""
    import nemo.collections.asr  # noqa: F401
    import torch
    from omegaconf import OmegaConf

    def tensors_of(model: Any) -> dict[str, Any]:
        tensors = dict(model.state_dict())
        tensors.update({f"buffer:{k}": v for k, v in model.named_buffers()})
        return tensors

    def encode(model: Any, seconds: float = 1.0) -> tuple[Any, float]:
        torch.manual_seed(0)
        n = int(16000 * seconds)
        audio = torch.randn(1, n) * 0.1
        start = time.perf_counter()
        with torch.inference_mode():
            feats, feat_len = model.preprocessor(input_signal=audio, length=torch.tensor([n]))
            enc, _ = model.encoder(audio_signal=feats, length=feat_len)
        return enc.clone(), time.perf_counter() - start

    reference = restore_nemo_default(nemo_path)
    ref_first = encode(reference, 4.0)[1]
    ref_tensors = tensors_of(reference)
    ref_cfg = OmegaConf.to_container(reference.cfg, resolve=True)
    ref_out, _ = encode(reference)
    floor_sd = load_floor(folder)
    report: dict[str, Any] = {
        "nemo_default": {"identical": True, "detail": "(the reference)", "forward_s": [ref_first]},
        "floor": {"identical": set(floor_sd) <= set(ref_tensors)
                  and all(torch.equal(v, ref_tensors[k]) for k, v in floor_sd.items()), "detail": ""},
    }
    del floor_sd
    loaders = {"nemo_extracted": restore_nemo_extracted, "chunky": restore_chunky,
               "chunky_assign": restore_chunky_assign, "chunky_slim": restore_chunky_slim}
    for method in methods:
        if method not in loaders:
            continue
        gc.collect()
        model = loaders[method](folder)
        first = encode(model, 4.0)[1]
        pairs = [(encode(reference, 4.0)[1], encode(model, 4.0)[1]) for _ in range(2)]
        tensors = tensors_of(model)
        problems = [k for k in ref_tensors if k not in tensors]
        problems += [k for k in tensors if k not in ref_tensors]
        problems += [k for k, v in tensors.items() if k in ref_tensors and (
            v.dtype != ref_tensors[k].dtype or not torch.equal(v, ref_tensors[k]))]
        same_cfg = OmegaConf.to_container(model.cfg, resolve=True) == ref_cfg
        if not same_cfg:
            problems.append("config differs")
        out, _ = encode(model)
        same_out = torch.equal(out, ref_out)
        if not same_out:
            problems.append("encoder output differs")
        report[method] = {
            "identical": not problems, "tensors": len(tensors), "config_equal": same_cfg,
            "encoder_output_equal": same_out, "detail": ", ".join(problems[:5]),
            "forward_s": [first] + [m for _, m in pairs], "reference_forward_s": [r for r, _ in pairs],
        }
        del model, tensors
    return report


def worker_main(args: argparse.Namespace) -> None:
    nemo_path, folder = Path(args.nemo), Path(args.folder)
    if args.worker == "verify":
        result: dict[str, Any] = verify(nemo_path, folder, args.methods)
    else:
        cprofile_out = Path(args.cprofile_out) if args.cprofile_out else None
        result = worker(args.worker, nemo_path, folder, cprofile_out)
    print(RESULT_MARK + json.dumps(result), flush=True)


# ============================================================================ parent side


def run_worker(method: str, built_nemo: Path, folder: Path, work: Path, log_file: Path,
               cprofile_out: Path | None = None, methods: list[str] | None = None) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", method, "--nemo", str(built_nemo),
           "--folder", str(folder)]
    if cprofile_out is not None:
        cmd += ["--cprofile-out", str(cprofile_out)]
    if methods:
        cmd += ["--methods", *methods]
    env = dict(os.environ)
    tmp = work / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env.update(TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp))
    proc = subprocess.run(cmd, cwd=str(REPO_ROOT), env=env, capture_output=True, text=True)
    with log_file.open("a", encoding="utf-8") as fh:
        fh.write(f"\n===== {method} rc={proc.returncode}\n{proc.stderr}\n{proc.stdout}\n")
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    raise RuntimeError(
        f"worker {method} failed (rc {proc.returncode}); see {log_file}\n{proc.stderr[-3000:]}")


def cprofile_top(path: Path, n: int = 18) -> str:
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs().sort_stats("cumulative").print_stats(n)
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(line.rstrip() for line in lines[start:] if line.strip())


def forward_text(v: dict[str, Any]) -> str:
    fwd, ref = v.get("forward_s"), v.get("reference_forward_s")
    if not fwd:
        return ""
    text = f"; encoder on 4 s of audio: first {fwd[0]:.2f} s"
    if ref:
        text += (f", then {statistics.median(fwd[1:]):.2f} s vs NeMo's model {statistics.median(ref):.2f} s "
                 "(alternating)")
    return text


def findings_text(results: dict[str, list[dict[str, Any]]], load: dict[str, Samples],
                  peak: dict[str, Samples], verify_report: dict[str, Any] | None) -> str:
    """What the parts say, in sentences (numbers from this run)."""

    def part(method: str, *prefixes: str) -> float:
        if method not in results:
            return float("nan")
        return statistics.median([sum(v for k, v in r["parts"].items() if k.startswith(prefixes))
                                  for r in results[method]])

    lines = ["Findings:", ""]
    if "nemo_default" in results:
        total = load["nemo_default"].median
        init = part("nemo_default", "construct: random weight init")
        construct = part("nemo_default", "construct:")
        lines.append(
            f"- NeMo's default restore ({total:.1f} s): random weight init {init:.1f} s "
            f"({init / total:.0%}; values overwritten at once), `torch.load` "
            f"{part('nemo_default', 'torch.load'):.1f} s, tar extraction "
            f"{part('nemo_default', 'tar extraction'):.1f} s, `load_state_dict` "
            f"{part('nemo_default', 'load_state_dict'):.1f} s; construction without the init "
            f"{construct - init:.1f} s."
            + (f" Construction ({construct:.1f} s) is mostly the random init." if init > construct - init
               else ""))
    if "chunky" in results:
        total = load["chunky"].median
        copy = part("chunky", "load_state_dict")
        lines.append(
            f"- Chunky today ({total:.1f} s): `load_state_dict` {copy:.1f} s ({copy / total:.0%}) copies "
            "every weight from the memory-mapped checkpoint into freshly allocated parameters, faulting in "
            "each "
            "4 KiB page of both; the process then holds the weights twice for a while "
            f"(peak RSS {peak['chunky'].median / 1024:.1f} GB).")
    if "chunky_assign" in results:
        total = load["chunky_assign"].median
        config = part("chunky_assign", "construct: model", "other")
        lines.append(
            f"- With `assign=True` ({total:.1f} s) the copy is gone and the peak RSS is "
            f"{peak['chunky_assign'].median / 1024:.1f} GB; what remains is mostly config handling "
            f"({config:.1f} s: YAML parsing and OmegaConf wrapping/deep copies of the vocabulary lists, "
            "`labels` and `joint.vocabulary`), which grows with the vocabulary, not with the weights.")
    if "chunky_slim" in results and "chunky_assign" in results:
        lines.append(
            f"- Without the vocabulary lists that NeMo rebuilds from the tokenizer anyway (`labels`, "
            f"`joint.vocabulary`), parsed with libyaml: {load['chunky_slim'].median:.1f} s vs "
            f"{load['chunky_assign'].median:.1f} s (config handling "
            f"{part('chunky_slim', 'construct: model', 'other'):.1f} s vs "
            f"{part('chunky_assign', 'construct: model', 'other'):.1f} s).")
    if verify_report is not None:
        fwd = [f"`{m}`{forward_text(v)[len('; encoder on 4 s of audio:'):]}"
               for m, v in verify_report.items() if v.get("reference_forward_s")]
        if fwd:
            lines.append(
                "- Inference speed with each loading (encoder on 4 s of audio): see \"1st forward\" above, "
                "the first inference of each fresh worker after the touch; and in the verify worker, each "
                "model's first forward, then the median of runs alternating with NeMo's own model (first "
                "forwards there also carry one-off warm-up and follow the machine's load): "
                + "; ".join(fwd) + ".")
    return "\n".join(lines)


def vocab_check(work: Path, vocab: int, repeats: int, log_file: Path, check: bool) -> str:
    """Time the restore of a small sibling with a big vocabulary: what config handling alone costs."""
    shape = {"d_model": 256, "n_layers": 2, "n_heads": 4}
    built = build_parakeet_like(work / f"vocab{vocab}", vocab_size=vocab, **shape)
    folder, _ = extract_model(built.nemo_path, work / f"vocab{vocab}", built.name)
    methods = ["nemo_extracted", "chunky", "chunky_assign", "chunky_slim"]
    same = ""
    if check:
        report = run_worker("verify", built.nemo_path, folder, work, log_file, methods=["chunky_slim"])
        ok = all(v["identical"] for v in report.values())
        same = f" `chunky_slim` restores the same config and weights as NeMo's default: {ok}."
        print(f"vocab {vocab}: chunky_slim identical to NeMo's default restore (config and weights): {ok}")
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rep in range(repeats):
        for method in methods:
            r = run_worker(method, built.nemo_path, folder, work, log_file)
            results[method].append(r)
            print(f"[{rep + 1}/{repeats}] vocab {vocab} {method:15s} load {r['load_s']:6.2f} s", flush=True)

    def config_part(r: dict[str, Any]) -> float:
        return sum(v for k, v in r["parts"].items() if k.startswith(("construct: model", "other")))

    rows = [[f"`{m}`", f"{Samples([r['load_s'] for r in rs]).median:.2f} s",
             f"{Samples([r['load_s'] for r in rs]).min:.2f} s",
             f"{Samples([config_part(r) for r in rs]).median:.2f} s"] for m, rs in results.items()]
    table = markdown_table(["method", "load median", "load min", "config handling (median)"], rows)
    return "\n".join([
        f"Vocabulary {vocab} (parakeet-tdt-0.6b-v3 has 8192 tokens): a small sibling "
        f"({built.params / 1e6:.1f}M parameters, {shape}) whose weights cost nothing, so the restore is "
        "config handling: YAML parsing plus OmegaConf wrapping and deep copies of `labels` and "
        f"`joint.vocabulary` ({vocab} entries each), several times over.{same}",
        "",
        table,
    ])


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK,
                        help="folder for the .nemo, the extracted copy and logs (default bench/out)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each method (default 3)")
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=list(METHODS))
    parser.add_argument("--no-verify", action="store_true", help="skip the weights-identical check")
    parser.add_argument("--no-cprofile", action="store_true", help="skip the cProfile runs")
    parser.add_argument("--write-results", action="store_true",
                        help="write the '## Load' section of bench/RESULTS.md")
    parser.add_argument("--vocab-size", type=int, default=1024, help="SentencePiece vocabulary (1024)")
    parser.add_argument("--shape", nargs="*", default=[], metavar="KEY=INT",
                        help="model shape overrides for a smaller sibling, e.g. d_model=256 n_layers=2")
    parser.add_argument("--vocab-check", type=int, default=8192, metavar="VOCAB",
                        help="also time a small sibling with this vocabulary, where config handling "
                             "dominates (8192, like parakeet-tdt-0.6b-v3); 0: skip")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--nemo", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--cprofile-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    log_file = work / "load-workers.log"
    log_file.write_text("", "utf-8")
    started = dt.datetime.now()
    machine = machine_info()
    versions = machine["versions"]
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM, "
          f"torch {versions['torch']}, nemo {versions['nemo_toolkit']}; {machine['gpu']}")
    sampler = LoadSampler("load.py")
    sampler.start()

    shape = {key: int(value) for key, value in (item.split("=", 1) for item in args.shape)}
    built = build_parakeet_like(work, vocab_size=args.vocab_size, **shape)
    folder, how = extract_model(built.nemo_path, work, built.name)
    ckpt = folder / "model_weights.ckpt"
    print(f"model: {built.params / 1e6:.1f}M parameters; .nemo {built.size_bytes / 1e9:.2f} GB; "
          f"model_weights.ckpt {ckpt.stat().st_size / 1e9:.2f} GB; extracted with {how}")

    verify_report: dict[str, Any] | None = None
    if not args.no_verify:
        print("verify: restoring with NeMo's default and with Chunky, comparing every tensor ...", flush=True)
        verify_report = run_worker("verify", built.nemo_path, folder, work, log_file, methods=args.methods)
        ok = all(v["identical"] for v in verify_report.values())
        for method, v in verify_report.items():
            print(f"  {method}: identical {v['identical']} {v.get('detail', '')}{forward_text(v)}")
        print(f"weights identical: {ok}")

    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rep in range(args.repeats):
        for method in args.methods:
            r = run_worker(method, built.nemo_path, folder, work, log_file)
            results[method].append(r)
            print(f"[{rep + 1}/{args.repeats}] {method:15s} load {r['load_s']:6.2f} s  "
                  f"touch {r['touch_s']:5.2f} s  1st forward {r['forward_s'] or 0:5.2f} s  "
                  f"import {r['import_s']:5.1f} s  "
                  f"peak RSS {r['peak_rss_mb'] / 1024:5.2f} GB", flush=True)

    vocab_text = ""
    if args.vocab_check:
        vocab_text = vocab_check(work, args.vocab_check, args.repeats, log_file, not args.no_verify)
        print("\n" + vocab_text)

    profiles: dict[str, str] = {}
    if not args.no_cprofile:
        for method in ("nemo_default", "chunky"):
            if method in args.methods:
                out = work / f"load-{method}.pstats"
                run_worker(method, built.nemo_path, folder, work, log_file, cprofile_out=out)
                profiles[method] = cprofile_top(out)
    sampler.stop()
    load_text = sampler.summary()

    # ------------------------------------------------------------------ summary
    load = {m: Samples([r["load_s"] for r in rs]) for m, rs in results.items()}
    ready = {m: Samples([r["load_s"] + r["touch_s"] for r in rs]) for m, rs in results.items()}
    peak = {m: Samples([r["peak_rss_mb"] for r in rs]) for m, rs in results.items()}
    base = {m: Samples([r["rss_before_mb"] for r in rs]) for m, rs in results.items()}
    imports = Samples([r["import_s"] for rs in results.values() for r in rs])
    forward = {m: Samples([r["forward_s"] for r in rs if r.get("forward_s") is not None])
               for m, rs in results.items()}
    header = ["method", "what", "load median", "load min", "load max", "+ touch (median)",
              "1st forward (median)", "peak RSS", "RSS before load"]
    rows = [[f"`{m}`", METHODS[m], f"{load[m].median:.2f} s", f"{load[m].min:.2f} s", f"{load[m].max:.2f} s",
             f"{ready[m].median:.2f} s",
             f"{forward[m].median:.2f} s" if forward[m].values else "n/a",
             f"{peak[m].median / 1024:.2f} GB", f"{base[m].median / 1024:.2f} GB"]
            for m in args.methods]
    table = markdown_table(header, rows)

    ratio_lines = []
    checks = []

    def add_ratio(a: str, b: str, target: float | None = None) -> None:
        if a in load and b in load:
            med, best = ratio(load[a].median, load[b].median), ratio(load[a].min, load[b].min)
            line = f"- `{a}` / `{b}`: {med:.2f}x (medians), {best:.2f}x (mins)"
            if target is not None:
                met = med <= target
                line += f" - target <= {target}x: {'met' if met else 'NOT met'}"
                checks.append((f"{a} <= {target}x {b}", met))
            ratio_lines.append(line)

    add_ratio("chunky", "nemo_default", TARGET_VS_NEMO)
    add_ratio("chunky", "floor", TARGET_VS_FLOOR)
    add_ratio("chunky_assign", "nemo_default", TARGET_VS_NEMO)
    add_ratio("chunky_assign", "floor", TARGET_VS_FLOOR)
    add_ratio("nemo_extracted", "nemo_default")
    add_ratio("chunky", "nemo_extracted")
    if "chunky_assign" in ready and "chunky" in ready:
        ratio_lines.append(
            f"- load + touch of every weight page: `chunky_assign` {ready['chunky_assign'].median:.2f} s vs "
            f"`chunky` {ready['chunky'].median:.2f} s (mapped pages are faulted in on first use)")

    part_names: list[str] = []
    for m in args.methods:
        for r in results[m]:
            for k in r["parts"]:
                if k not in part_names:
                    part_names.append(k)
    part_names.sort(key=lambda k: -statistics.median([r["parts"].get(k, 0.0) for r in results.get(
        "nemo_default", next(iter(results.values())))]))
    prof_methods = [m for m in args.methods if m != "floor"]
    prof_rows = []
    for k in part_names:
        cells = [statistics.median([r["parts"].get(k, 0.0) for r in results[m]]) for m in prof_methods]
        if max(cells) >= 0.005:
            prof_rows.append([k] + [f"{c:.2f} s" for c in cells])
    prof_rows.append(["**total**"] + [f"**{load[m].median:.2f} s**" for m in prof_methods])
    prof_table = markdown_table(["part (exclusive, median)"] + [f"`{m}`" for m in prof_methods], prof_rows)

    print("\n" + table + "\n")
    print("\n".join(ratio_lines))
    print(f"\nNeMo import (excluded above): median {imports.median:.1f} s, min {imports.min:.1f} s")
    print("\nWhere the time goes:\n" + prof_table)
    for method, text in profiles.items():
        print(f"\ncProfile of `{method}` (cumulative, top):\n{text}")
    print(f"\nconcurrent load: {load_text}")
    if verify_report is not None:
        print(f"weights identical: {all(v['identical'] for v in verify_report.values())}")

    findings = findings_text(results, load, peak, verify_report)
    print("\n" + findings)

    if args.write_results:
        verify_text = "not checked (--no-verify)"
        if verify_report is not None:
            ok = all(v["identical"] for v in verify_report.values())
            verify_text = (f"weights identical: {ok} (every state_dict tensor and buffer of "
                           + ", ".join(f"`{m}`" for m in verify_report if m not in ("floor", "nemo_default"))
                           + " equals NeMo's default restore, so do the configs, and the encoder output on "
                           "the same input is bit-identical; the raw checkpoint matches too)")
        model_desc = ("FastConformer-TDT of parakeet-tdt-0.6b-v2's shape (24 x 1024 encoder, 2-layer 640 "
                      "LSTM prediction net, 640 joint, 1024 SentencePiece BPE, durations 0-4)")
        if shape or args.vocab_size != 1024:
            model_desc = f"parakeet-shaped FastConformer-TDT with {shape or 'the default shape'}, " \
                         f"vocabulary {args.vocab_size}"
        extra_args = ["--vocab-size", str(args.vocab_size)] if args.vocab_size != 1024 else []
        extra_args += ["--shape", *args.shape] if args.shape else []
        extra = " ".join(extra_args)
        body = "\n".join([
            f"Run {started:%Y-%m-%d %H:%M} with "
            f"`python bench/load.py --repeats {args.repeats}{' ' + extra if extra else ''} --write-results`.",
            "",
            f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM, "
            f"{machine['os']}, Python {machine['python']}, torch {machine['versions']['torch']}, "
            f"nemo_toolkit {machine['versions']['nemo_toolkit']}; {machine['gpu']}.",
            f"- Concurrent load during the run: {load_text}.",
            f"- Model: {model_desc}, random weights, {built.params / 1e6:.1f}M parameters; "
            f".nemo {built.size_bytes / 1e9:.2f} GB; extracted once with {how}.",
            "- Each timing is one fresh subprocess, methods interleaved; it excludes "
            f"`import nemo.collections.asr` (median {imports.median:.1f} s, paid once per process by every "
            "method) and includes everything from the call to a model in eval mode (floor: to the state dict "
            "in memory). Files were in the page cache (warm: repeated loads), so disk speed is not measured. "
            "Peak RSS is the worker process's "
            "high-water mark, NeMo import included (see \"RSS before load\").",
            "",
            table,
            "",
            "Ratios:",
            "",
            *ratio_lines,
            "",
            "Targets: " + "; ".join(f"{name}: {'met' if met else 'NOT met'}" for name, met in checks) + ".",
            "",
            f"Correctness: {verify_text}.",
            "",
            "Where the time goes (exclusive wall time of each step, median of the runs; the steps are timed "
            "by wrapping NeMo's functions, see bench/load.py):",
            "",
            prof_table,
            "",
            findings,
            *(["", vocab_text] if vocab_text else []),
        ])
        write_results_section("Load", body)
        print(f"\nwrote the Load section of {Path('bench/RESULTS.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
