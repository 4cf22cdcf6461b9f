"""Train the small Sortformer diarization model of Chunky's tests (``tests/assets/diar-sortformer.nemo``).

Everything is made here, offline, on CPU:

1. espeak-ng speaks the ten digit words and a few short sentences in several hundred voices (base voice x
   variant x speed x pitch); the clips are cached (``--cache``), so later runs skip this step.
2. A ~0.3M-parameter ``SortformerEncLabelModel`` (FastConformer encoder, Transformer encoder, four
   sigmoid speaker outputs, streaming speaker cache: the architecture of
   nvidia/diar_streaming_sortformer_4spk-v2, only much smaller) is trained with a plain torch loop on
   conversations assembled on the fly from those clips (1-4 speakers, turns of 1-20 s, overlapping
   speech, random levels and noise), with NeMo's own arrival-time-sorted and permutation-invariant
   losses. The first part of the time budget trains it on whole sessions, the rest in streaming mode
   (chunks + speaker cache), which is how Chunky runs it.
3. The saved model is evaluated through Chunky's own diarization code (``chunky.asr.diarization``) on
   conversations of voices never heard in training (2 and 3 speakers): the diarization error rate by
   ``pyannote.metrics`` (collar 0.25 s) is printed and written next to the model as ``<out>.eval.json``.

Run from the repository root (see tools/README.md)::

    .venv/bin/python tools/train_diar_model.py --minutes 25 --out tests/assets/diar-sortformer.nemo
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import soxr

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the tests' conversation builder is shared with the tests and benchmarks
# The digits tool's espeak-ng voice, 16-bit rounding and batch padding are this one's too.
from tests.conversations import (  # noqa: E402
    RATE,
    Conversation,
    build_conversation,
    diarization_error_rate,
    sound_bounds,
)
from tools.train_test_model import espeak, pad_batch, to_i16  # noqa: E402

ASSETS = REPO / "tests" / "assets"
SR = RATE
FRAME_SECONDS = 0.08  # one output frame of the model: 10 ms features x subsampling 8
MAX_SPEAKERS = 4
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# Words for the short sentences (content does not matter for who-spoke-when; variety of sounds does).
VOCAB = """the a and to of in is it you that he was for on are with as his they be at one have this from
or had by word but what some we can out other were all there when up use your how said an each she which
do their time if will way about many then them write would like so these her long make thing see him two
has look more day could go come did number sound no most people my over know water than call first who may
down side been now find any new work part take get place made live where after back little only round man
year came show every good me give our under name very through just form sentence great think say help low
line differ turn cause much mean before move right boy old too same tell does set three want air well also
play small end put home read hand port large spell add even land here must big high such follow act why
ask men change went light kind off need house picture try us again animal point mother world near build
self earth father head stand own page should country found answer school grow study still learn plant
cover food sun four between state keep eye never last let thought city tree cross farm hard start might
story saw far sea draw left late run while press close night real life few north open seem together next
white children begin got walk example ease paper group always music those both mark often letter until
mile river car feet care second book carry took science eat room friend began idea fish mountain stop once
base hear horse cut sure watch color face wood main enough plain girl usual young ready above ever red
list though feel talk bird soon body dog family direct pose leave song measure door product black short
numeral class wind question happen complete ship area half rock order fire south problem piece told knew
pass since top whole king space heard best hour better true during hundred five remember step early hold
west ground interest reach fast verb sing listen six table travel less morning ten simple several vowel
toward war lay against pattern slow center love person money serve appear road map rain rule govern pull
cold notice voice unit power town fine certain fly fall lead cry dark machine note wait plan figure star
box noun field rest correct able pound done beauty drive stood contain front teach week final gave green
quick develop ocean warm free minute strong special mind behind clear tail produce fact street inch
multiply nothing course stay wheel full force blue object decide surface deep moon island foot system busy
test record boat common gold possible plane stead dry wonder laugh thousand ago ran check game shape
equate hot miss brought heat snow tire bring yes distant fill east paint language among""".split()

# Voices: espeak-ng 1.51's English base voices and voice variants ("+variant").
TRAIN_BASES = ["en", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029"]
ALL_VARIANTS = """adam Alex Alicia Andrea Andy Annie antonio aunty belinda benjamin boris caleb david Denis
Diogo ed edward edward2 Gene Gene2 gustave announcer Henrique Hugo iven iven2 iven3 iven4 Jacky john
kaukovalta Lee linda marcelo Marco Mario max Michael michel miguel Mike Mr Nguyen pablo paul pedro quincy
RicishayMax RicishayMax2 RicishayMax3 rob robert robosoft robosoft2 robosoft3 robosoft4 robosoft5
robosoft6 robosoft7 robosoft8 steph steph2 steph3 Storm Tweaky zac anika AnxiousAndy f1 f2 f3 f4 f5
grandpa klatt klatt2 klatt3 klatt4 klatt5 klatt6 m1 m2 m3 m4 m5 m6 m7 m8 norbert sandro shelby travis
victor croak grandma""".split()  # left out: fast, whisper, whisperf, Demonic, UniRobot, anikaRobot
# Held out: these variants and the base voice en-us-nyc never occur in training, nor do these speeds.
HELD_OUT_VARIANTS = {"m7", "m8", "f4", "f5", "Annie", "Lee", "grandma", "travis"}
HELD_OUT_SPEEDS = {135, 140, 145, 165, 180}
TRAIN_VARIANTS = ["", *[v for v in ALL_VARIANTS if v not in HELD_OUT_VARIANTS]]
TRAIN_SPEEDS = [110, 120, 130, 150, 155, 160, 170, 175, 190, 200, 215]
TRAIN_PITCH = (20, 80)

# Held-out voices for the evaluation: (voice, speed, pitch, tag). The first four are the voices of the
# committed word clips (tests/assets/audio, made by tools/train_test_model.py): the tests use those.
HELD_OUT: list[tuple[str, int, int, str]] = [
    ("en-us+m7", 140, 50, "en_us_m7"),
    ("en-gb-x-rp+f4", 180, 60, "en_gb_x_rp_f4"),
    ("en-029+m8", 165, 40, "en_029_m8"),
    ("en-us-nyc+f5", 145, 55, "en_us_nyc_f5"),
    ("en-us-nyc+Annie", 165, 60, "en_us_nyc_annie"),
    ("en+Lee", 145, 45, "en_lee"),
    ("en-gb-scotland+grandma", 180, 50, "en_gb_scotland_grandma"),
    ("en-gb-x-gbclan+travis", 135, 35, "en_gb_x_gbclan_travis"),
]
CACHE_VERSION = 1


# ----------------------------------------------------------------------------------------- synthesis
def trim(audio: np.ndarray, margin_s: float) -> np.ndarray:
    """The clip cut to ``margin_s`` before its first and after its last sound (zeros where it had less)."""
    start, end = sound_bounds(audio)
    margin = int(round(margin_s * SR))
    left, right = max(0, start - margin), min(len(audio), end + margin)
    return np.concatenate([np.zeros(margin - (start - left), np.float32), audio[left:right],
                           np.zeros(margin - (right - end), np.float32)])


def random_sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(VOCAB + WORDS) for _ in range(rng.randint(3, 9)))


Voice = tuple[str, int, int]  # espeak voice, speed, pitch
VoiceClips = list[tuple[np.ndarray, str]]  # int16 clips (trimmed to a 50 ms margin) and their text


def synthesize(voices: Sequence[Voice], sentences: int, seed: int, cache: Path,
               label: str) -> list[VoiceClips]:
    """For every voice: the ten digit words and ``sentences`` random sentences, cached in ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    key = cache / f"{label}-v{CACHE_VERSION}-n{len(voices)}-s{sentences}-seed{seed}.pkl"
    if key.exists():
        with key.open("rb") as f:
            print(f"corpus: loaded {key}", flush=True)
            return pickle.load(f)
    rng = random.Random(seed)
    jobs = [(v, [*WORDS, *(random_sentence(rng) for _ in range(sentences))]) for v in voices]
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="chunky-espeak-") as tmp, ThreadPoolExecutor(2) as pool:
        work = Path(tmp)

        def clips(job: tuple[Voice, list[str]]) -> VoiceClips:
            (voice, speed, pitch), texts = job
            return [(to_i16(trim(espeak(t, voice, speed, pitch, work), 0.05)), t) for t in texts]

        out = list(pool.map(clips, jobs))
    print(f"corpus: {label}: {sum(len(c) for c in out)} clips of {len(voices)} voices in "
          f"{time.time() - t0:.0f} s", flush=True)
    from chunky.base.fs import atomic_file

    with atomic_file(key) as f:  # a killed run leaves no half-written cache
        pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
    return out


def training_voices(count: int, seed: int) -> list[Voice]:
    rng = random.Random(seed)
    combos = [(b, v) for b in TRAIN_BASES for v in TRAIN_VARIANTS]
    rng.shuffle(combos)
    picked = combos[:count]
    return [(f"{b}+{v}" if v else b, rng.choice(TRAIN_SPEEDS), rng.randint(*TRAIN_PITCH)) for b, v in picked]


def as_float(clips: VoiceClips) -> list[tuple[np.ndarray, str]]:
    return [(a.astype(np.float32) / 32768, t) for a, t in clips]


# ------------------------------------------------------------------------------------ training sessions
def variant_of(voice: str) -> str:
    return voice.split("+", 1)[1] if "+" in voice else ""


def perturb(clips: list[tuple[np.ndarray, str]], factor: float) -> list[tuple[np.ndarray, str]]:
    """The clips played ``factor`` times faster: pitch, formants and tempo all scaled, a new voice."""
    if factor == 1.0:
        return clips
    return [(soxr.resample(a, SR * factor, SR).astype(np.float32), t) for a, t in clips]


SPEAKER_WEIGHTS = (0.1, 0.35, 0.3, 0.25)  # how often a training example has 1, 2, 3 or 4 speakers


def random_session(corpus: list[VoiceClips], voices: Sequence[Voice], rng: random.Random,
                   seconds: float, most: int = MAX_SPEAKERS,
                   weights: Sequence[float] = SPEAKER_WEIGHTS) -> tuple[Conversation, list[int]]:
    """A conversation of 1-``most`` voices with different variants, in the shape the tests feed the
    model, and the training voice of each speaker slot (-1 for a voice changed by ``perturb``).

    60% of the speakers are played 0.87-1.15 times faster than espeak spoke them: a voice never heard
    before in every example, so that the model learns to compare voices rather than to know them."""
    n = rng.choices([1, 2, 3, 4][:most], weights=list(weights)[:most])[0]
    chosen: list[int] = []
    while len(chosen) < n:
        i = rng.randrange(len(corpus))
        if all(variant_of(voices[i][0]) != variant_of(voices[j][0]) for j in chosen):
            chosen.append(i)
    speakers = {}
    ids = []
    for k, i in enumerate(chosen):
        clips = as_float(corpus[i])
        if rng.random() < 0.5:  # digit words only, like the tests' conversations
            clips = clips[: len(WORDS)]
        factor = math.exp(rng.uniform(math.log(0.87), math.log(1.15))) if rng.random() < 0.6 else 1.0
        speakers[f"s{k}"] = perturb(clips, factor)
        ids.append(i if factor == 1.0 else -1)
    # Half the examples have turns like the tests' (1-20 s), half turns short enough for every speaker to
    # talk: in a 10-30 s example, long turns alone leave the third and fourth speaker (and their output
    # slots) silent, and a first run that drew only 1-20 s turns never learned to use them.
    longest = 20.0 if rng.random() < 0.5 else max(2.0, seconds / (1.5 * n))
    return build_conversation(
        speakers, seconds, seed=rng.getrandbits(32),
        turn_seconds=(0.8, longest),
        piece_gap=(0.05, rng.uniform(0.2, 0.45)),
        turn_gap=(0.1, rng.uniform(0.4, 1.5)),
        overlap_probability=rng.uniform(0.0, 0.3),
        gain=(0.15, 1.0),
        noise=10 ** rng.uniform(-3.5, -2.0),
        lead_in=rng.uniform(0.0, 2.0),
    ), ids


def one_voice_frames(targets: np.ndarray, session: int, rng: random.Random,
                     per_speaker: int = 16) -> list[tuple[int, int, int]]:
    """Up to ``per_speaker`` random frames of each speaker where that speaker talks alone, as (session,
    frame, label) with one label per (session, speaker)."""
    out = []
    alone = targets.sum(axis=1) == 1
    for slot in range(targets.shape[1]):
        frames = np.flatnonzero(alone & (targets[:, slot] == 1)).tolist()
        for f in rng.sample(frames, min(per_speaker, len(frames))):
            out.append((session, f, session * MAX_SPEAKERS + slot))
    return out


def same_voice_loss(z: Any, labels: Any, temperature: float = 0.1) -> Any:
    """Supervised contrastive loss: each frame's embedding closer to the other frames of the same voice
    than to frames of any other voice (the same conversation's others and every other conversation's)."""
    import torch

    z = torch.nn.functional.normalize(z, dim=-1)
    sim = z @ z.T / temperature
    eye = torch.eye(len(z), dtype=torch.bool)
    sim = sim.masked_fill(eye, -1e9)
    positive = (labels[:, None] == labels[None, :]) & ~eye
    log_p = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    has = positive.any(dim=1)
    return -(log_p * positive).sum(dim=1)[has].div(positive.sum(dim=1)[has]).mean()


def frame_targets(conv: Conversation, frames: int) -> np.ndarray:
    """(frames, MAX_SPEAKERS): 1 where a speaker's reference turn covers at least half of the frame;
    speaker ``s<k>`` (see random_session) is column k, whether or not the others spoke."""
    target = np.zeros((frames, MAX_SPEAKERS), np.float32)
    edges = np.arange(frames + 1) * FRAME_SECONDS
    for turn in conv.turns():
        cover = np.clip(np.minimum(edges[1:], turn.end) - np.maximum(edges[:-1], turn.start), 0, None)
        target[cover >= FRAME_SECONDS / 2, int(turn.speaker[1:])] = 1.0
    return target


# ------------------------------------------------------------------------------------------------ model
def model_config(streaming: dict[str, int]) -> dict[str, Any]:
    d_model = 64
    return {
        "sample_rate": SR,
        "pil_weight": 0.5,
        "ats_weight": 0.5,
        "max_num_of_spks": MAX_SPEAKERS,
        "streaming_mode": True,
        "model_defaults": {"fc_d_model": d_model, "tf_d_model": d_model},
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "normalize": "per_feature", "window_size": 0.025, "sample_rate": SR, "window_stride": 0.01,
            "window": "hann", "features": 40, "n_fft": 512, "frame_splicing": 1, "dither": 1e-5, "pad_to": 0,
        },
        "sortformer_modules": {
            "_target_": "nemo.collections.asr.modules.sortformer_modules.SortformerModules",
            "num_spks": MAX_SPEAKERS, "dropout_rate": 0.0, "fc_d_model": d_model, "tf_d_model": d_model,
            **streaming,
            "spkcache_sil_frames_per_spk": 3, "scores_add_rnd": 0.0, "pred_score_threshold": 0.25,
            "max_index": 99999, "scores_boost_latest": 0.05, "sil_threshold": 0.2, "strong_boost_rate": 0.75,
            "weak_boost_rate": 1.5, "min_pos_scores_rate": 0.5, "causal_attn_rate": 0.0, "causal_attn_rc": 7,
        },
        "encoder": {
            "_target_": "nemo.collections.asr.modules.ConformerEncoder",
            "feat_in": 40, "feat_out": -1, "n_layers": 3, "d_model": d_model,
            "subsampling": "dw_striding", "subsampling_factor": 8, "subsampling_conv_channels": 16,
            "causal_downsampling": False, "ff_expansion_factor": 2, "self_attention_model": "rel_pos",
            "n_heads": 4, "att_context_size": [-1, -1], "att_context_style": "regular", "xscaling": True,
            "untie_biases": True, "pos_emb_max_len": 5000, "conv_kernel_size": 9,
            "conv_norm_type": "batch_norm",
            # No dropout: every training example is new, and dropout costs a third of a step on CPU.
            "dropout": 0.0, "dropout_pre_encoder": 0.0, "dropout_emb": 0.0, "dropout_att": 0.0,
        },
        "transformer_encoder": {
            "_target_": "nemo.collections.asr.modules.transformer.transformer_encoders.TransformerEncoder",
            "num_layers": 2, "hidden_size": d_model, "inner_size": 2 * d_model, "num_attention_heads": 4,
            "attn_score_dropout": 0.0, "attn_layer_dropout": 0.0, "ffn_dropout": 0.0, "hidden_act": "relu",
            "pre_ln": False, "pre_ln_final_layer_norm": True,
        },
        "loss": {"_target_": "nemo.collections.asr.losses.bce_loss.BCELoss", "weight": None,
                 "reduction": "mean"},
    }


# Streaming set-up the model is trained and run with: 7.5 s chunks, a 7.5 s speaker cache.
STREAMING = {"spkcache_len": 94, "fifo_len": 0, "chunk_len": 94, "spkcache_update_period": 94,
             "chunk_left_context": 1, "chunk_right_context": 1}


def build_model() -> Any:
    from nemo.collections.asr.models import SortformerEncLabelModel
    from omegaconf import OmegaConf

    return SortformerEncLabelModel(cfg=OmegaConf.create(model_config(STREAMING)))


def losses(model: Any, preds: Any, targets: Any, target_lens: Any) -> Any:
    from nemo.collections.asr.parts.utils.asr_multispeaker_utils import get_ats_targets, get_pil_targets

    ats = get_ats_targets(targets.clone(), preds, speaker_permutations=model.speaker_permutations)
    pil = get_pil_targets(targets.clone(), preds, speaker_permutations=model.speaker_permutations)
    return (model.ats_weight * model.loss(probs=preds, labels=ats, target_lens=target_lens)
            + model.pil_weight * model.loss(probs=preds, labels=pil, target_lens=target_lens))


def train(model: Any, corpus: list[VoiceClips], voices: Sequence[Voice], args: argparse.Namespace,
          probe: Any) -> dict[str, Any]:
    """The plain torch loop. While training on whole sessions, a contrastive loss on the encoder's output
    (through a projection that is not part of the saved model) pulls frames of the same voice together and
    pushes other voices away: a dense, direct signal that makes the encoder tell voices apart within
    minutes, so the Sortformer layers above it mostly learn who arrived first."""
    import torch

    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    d_model = int(model.cfg.model_defaults.tf_d_model)
    voice_head = torch.nn.Linear(d_model, d_model)  # a projection for the same-voice loss; not saved
    if args.freeze_encoder:
        # A second round on a model whose encoder already tells voices apart: only the Sortformer layers
        # above it learn (who arrived first, how many there are); the encoder and its batch norms stay put.
        for p in [*model.preprocessor.parameters(), *model.encoder.parameters()]:
            p.requires_grad_(False)
        params = [p for p in model.parameters() if p.requires_grad]
    else:
        params = [*model.parameters(), *voice_head.parameters()]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-3)
    budget = args.minutes * 60.0
    warmup = 150
    t0 = time.time()
    step, running, running_voice = 0, None, None
    next_probe = t0 + args.probe_minutes * 60
    def train_mode() -> None:
        model.train()
        if args.freeze_encoder:
            model.encoder.eval()

    train_mode()
    while (elapsed := time.time() - t0) < budget:
        frac = elapsed / budget
        streaming = frac >= args.offline_fraction
        model.streaming_mode = streaming
        decay = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac))
        cur_lr = args.lr * min(1.0, (step + 1) / warmup) * decay
        for g in opt.param_groups:
            g["lr"] = cur_lr
        lo, hi = (args.stream_seconds if streaming else args.session_seconds)
        seconds = rng.uniform(lo, hi)
        most = 2 if frac < args.two_speaker_fraction else MAX_SPEAKERS
        sessions = [random_session(corpus, voices, rng, seconds, most, args.speaker_weights)[0]
                    for _ in range(args.batch_size)]
        signal, lengths = pad_batch([s.audio[: int((seconds + 1.0) * SR)] for s in sessions])
        emb = None
        if streaming:
            preds = model.forward(audio_signal=signal, audio_signal_length=lengths)
        else:
            feats, feat_lens = model.process_signal(audio_signal=signal, audio_signal_length=lengths)
            feats = feats[:, :, : feat_lens.max()]
            emb, emb_lens = model.frontend_encoder(processed_signal=feats, processed_signal_length=feat_lens)
            preds = model.forward_infer(emb, emb_lens)
        frames = preds.shape[1]
        target_lens = torch.clamp(torch.ceil(lengths / (SR * FRAME_SECONDS)).long(), max=frames)
        np_targets = [frame_targets(s, frames) for s in sessions]
        targets = torch.from_numpy(np.stack(np_targets))
        loss = losses(model, preds, targets, target_lens)
        total = loss
        if emb is not None and not args.freeze_encoder:
            picked = [x for b, t in enumerate(np_targets) for x in one_voice_frames(t, b, rng)]
            if picked:
                rows, cols, labels = (torch.tensor(v) for v in zip(*picked, strict=True))
                v_loss = same_voice_loss(voice_head(emb[rows, cols]), labels)
                # Fades out over the whole-session phase: it starts the encoder off, then leaves it to
                # the diarization loss.
                weight = args.voice_weight * max(0.0, 1.0 - frac / max(args.offline_fraction, 1e-6))
                total = loss + weight * v_loss
                v = v_loss.item()
                running_voice = v if running_voice is None else 0.97 * running_voice + 0.03 * v
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        running = loss.item() if running is None else 0.97 * running + 0.03 * loss.item()
        if step % 20 == 0:
            voice = f"  same-voice loss {running_voice:.3f}" if running_voice is not None and not streaming \
                else ""
            print(f"step {step:5d}  {elapsed / 60:5.1f} min  {'stream ' if streaming else 'offline'}  "
                  f"lr {cur_lr:.2e}  loss {running:.4f}{voice}  {step / max(elapsed, 1e-6):.2f} steps/s",
                  flush=True)
        if time.time() >= next_probe:
            next_probe = time.time() + args.probe_minutes * 60
            model.eval()
            print(f"probe at step {step}: {probe(model)}", flush=True)
            train_mode()
        if args.checkpoint and step % 200 == 0:
            torch.save({"model": model.state_dict(), "step": step}, args.checkpoint)
    model.eval()
    model.streaming_mode = True
    return {"steps": step, "minutes": (time.time() - t0) / 60, "final_loss": running}


# ------------------------------------------------------------------------------------------- evaluation
def held_out_conversations(held: list[VoiceClips], n_speakers: int, count: int, seconds: float,
                           seed: int, words_only: bool) -> list[Conversation]:
    """Conversations of held-out voices: digit words only (like the tests') or words and sentences."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        pick = rng.sample(range(len(HELD_OUT)), n_speakers)
        speakers = {}
        for i in pick:
            clips = as_float(held[i])
            speakers[HELD_OUT[i][3]] = clips[: len(WORDS)] if words_only else clips
        out.append(build_conversation(speakers, seconds, seed=rng.getrandbits(32), overlap_probability=0.1))
    return out


def der_of(turns_of: Any, conversations: Sequence[Conversation]) -> dict[str, Any]:
    """The diarization error rate of ``turns_of(conversation)`` over the conversations (pyannote.metrics,
    collar 0.25 s = +-0.125 s, overlapping speech scored; and with NIST's +-0.25 s collar)."""
    found = [(conv, turns_of(conv)) for conv in conversations]
    strict = diarization_error_rate(found, collar=0.25)
    return {"der": strict["der"], "missed": strict["missed"], "false_alarm": strict["false_alarm"],
            "confusion": strict["confusion"],
            "der_nist_collar_0.25": diarization_error_rate(found, collar=0.5)["der"],
            "speech_minutes": strict["speech_seconds"] / 60, "conversations": len(conversations),
            "speakers": [len(c.speakers) for c in conversations],
            "speakers_found": [len({t.speaker for t in turns}) for _, turns in found]}


def chunky_turns(model: Any, rules: Any = None) -> Any:
    """Turns found by Chunky's own diarization (chunky.asr.diarization), the code the app runs."""
    from chunky.asr.diarization import DiarizationOptions, Diarizer

    diarizer = Diarizer(model, "diar-sortformer")
    options = DiarizationOptions(rules=rules)
    return lambda conv: diarizer.diarize(conv.audio, options=options).turns


def tune_rules(model: Any, corpus: list[VoiceClips], voices: Sequence[Voice], seed: int) -> dict[str, float]:
    """The post-processing (chunky.asr.speaker_turns.TurnRules) with the lowest DER on conversations of
    *training* voices; the held-out voices are only used to measure it afterwards."""
    import itertools

    from chunky.asr.diarization import Diarizer
    from chunky.asr.speaker_turns import TurnRules, turns_from_activity

    rng = random.Random(seed)
    sessions = [random_session(corpus, voices, rng, 90.0, most=3)[0] for _ in range(8)]
    diarizer = Diarizer(model)
    found = [(conv, diarizer.diarize(conv.audio)) for conv in sessions]
    best: tuple[float, dict[str, float]] = (math.inf, {})
    for onset, offset, off, on, pad in itertools.product((0.4, 0.5, 0.6), (0.3, 0.4, 0.5),
                                                         (0.0, 0.16, 0.32, 0.48), (0.0, 0.16), (0.0, 0.08)):
        if offset > onset:
            continue
        rules = TurnRules(onset=onset, offset=offset, min_duration_off=off, min_duration_on=on,
                          pad_onset=pad, pad_offset=pad)
        der = diarization_error_rate([(c, turns_from_activity(d.activity, d.frame_seconds, rules))
                                      for c, d in found])["der"]
        if der < best[0]:
            best = (der, {"onset": onset, "offset": offset, "min_duration_off": off, "min_duration_on": on,
                          "pad_onset": pad, "pad_offset": pad})
    print(f"post-processing tuned on training voices: DER {100 * best[0]:.1f}% with {best[1]}", flush=True)
    return best[1]


def evaluate(path: Path, held: list[VoiceClips]) -> dict[str, Any]:
    from nemo.collections.asr.models import SortformerEncLabelModel

    model = SortformerEncLabelModel.restore_from(str(path), map_location="cpu")
    model.eval()
    results: dict[str, Any] = {
        "model": path.name, "size_bytes": path.stat().st_size,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "postprocessing": dict(model.cfg.get("chunky_postprocessing") or {}),
        "held_out_voices": [v for v, _, _, _ in HELD_OUT],
        "diarize_call": "chunky.asr.diarization.Diarizer(model).diarize(samples): streaming, "
                        f"chunk_len {model.sortformer_modules.chunk_len} frames, speaker cache "
                        f"{model.sortformer_modules.spkcache_len} frames",
    }
    turns_of = chunky_turns(model)
    for n in (2, 3):
        for words_only in (True, False):
            convs = held_out_conversations(held, n, 4, 120, 100 + n + 10 * words_only, words_only)
            key = f"{n}_speakers_{'digit_words' if words_only else 'words_and_sentences'}"
            results[key] = der_of(turns_of, convs)
            print(key, results[key], flush=True)
    return results


def save(model: Any, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    model.save_to(str(partial))
    partial.replace(out)
    print(f"saved: {out} ({out.stat().st_size} bytes)", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=25.0, help="training wall time (default 25)")
    parser.add_argument("--out", type=Path, default=ASSETS / "diar-sortformer.nemo",
                        help="where to save the .nemo")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "chunky-train-diar",
                        help="synthesized speech cache")
    parser.add_argument("--voices", type=int, default=360,
                        help="training voices (base x variant x speed x pitch)")
    parser.add_argument("--sentences", type=int, default=3, help="sentences per training voice")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--session-seconds", type=float, nargs=2, default=(10.0, 24.0),
                        help="length range of the whole-session training examples")
    parser.add_argument("--stream-seconds", type=float, nargs=2, default=(20.0, 32.0),
                        help="length range of the streaming training examples")
    parser.add_argument("--offline-fraction", type=float, default=0.8,
                        help="share of the time budget spent training on whole sessions")
    parser.add_argument("--voice-weight", type=float, default=0.3,
                        help="weight of the same-voice loss on the encoder (whole-session training only)")
    parser.add_argument("--two-speaker-fraction", type=float, default=0.15,
                        help="share of the time budget spent on conversations of at most two speakers")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 is twice as fast as 2 on a busy 2-core machine)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--probe-minutes", type=float, default=4.0)
    parser.add_argument("--checkpoint", type=Path, default=None, help="save the weights here every 200 steps")
    parser.add_argument("--speaker-weights", type=float, nargs=4, default=SPEAKER_WEIGHTS,
                        help="how often a training example has 1, 2, 3 or 4 speakers")
    parser.add_argument("--freeze-encoder", action="store_true",
                        help="train only the Sortformer layers above the encoder (a second round, --init)")
    parser.add_argument("--fresh-head", action="store_true",
                        help="with --init: keep only its encoder, the Sortformer layers above start anew")
    parser.add_argument("--init", type=Path, default=None, help="start from this .nemo (a second round)")
    parser.add_argument("--eval-only", action="store_true", help="only evaluate --out")
    parser.add_argument("--tune-only", action="store_true",
                        help="only tune the post-processing of --out (on training voices), save, evaluate")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()

    import torch

    torch.set_num_threads(args.threads)
    cache = args.cache.resolve()
    held = synthesize([(v, s, p) for v, s, p, _ in HELD_OUT], 6, args.seed + 7, cache, "held-out")
    probe_set = (held_out_conversations(held, 2, 2, 60, 11, words_only=True)
                 + held_out_conversations(held, 3, 2, 60, 12, words_only=False))

    def probe(model: Any) -> str:
        result = der_of(chunky_turns(model), probe_set)
        return (f"DER {100 * result['der']:.1f}% on 4 held-out minutes, "
                f"speakers found {result['speakers_found']}")

    info: dict[str, Any] | None = None
    if args.tune_only:
        from nemo.collections.asr.models import SortformerEncLabelModel
        from omegaconf import open_dict

        voices = training_voices(args.voices, args.seed)
        corpus = synthesize(voices, args.sentences, args.seed, cache, "train")
        model = SortformerEncLabelModel.restore_from(str(out), map_location="cpu")
        model.eval()
        with open_dict(model.cfg):
            model.cfg.chunky_postprocessing = tune_rules(model, corpus, voices, args.seed + 99)
        save(model, out)
    elif not args.eval_only:
        voices = training_voices(args.voices, args.seed)
        corpus = synthesize(voices, args.sentences, args.seed, cache, "train")
        if args.init:
            from nemo.collections.asr.models import SortformerEncLabelModel

            model = SortformerEncLabelModel.restore_from(str(args.init.resolve()), map_location="cpu")
            if args.fresh_head:  # the trained encoder under new Sortformer layers
                trained, model = model, build_model()
                model.encoder.load_state_dict(trained.encoder.state_dict())
        else:
            model = build_model()
        print(f"model: {sum(p.numel() for p in model.parameters())} parameters", flush=True)
        info = train(model, corpus, voices, args, probe)
        print(f"trained: {info}", flush=True)
        from omegaconf import open_dict

        with open_dict(model.cfg):
            model.cfg.chunky_postprocessing = tune_rules(model, corpus, voices, args.seed + 99)
        save(model, out)
    results = evaluate(out, held)
    report_path = out.with_name(out.name + ".eval.json")
    if info is not None:
        results["training"] = info | {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}
    elif report_path.exists():
        training = json.loads(report_path.read_text("utf-8")).get("training")
        if training:
            results["training"] = training
    report = json.dumps(results, indent=2)
    print(report, flush=True)
    from chunky.base.fs import atomic_write

    atomic_write(report_path, report + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
