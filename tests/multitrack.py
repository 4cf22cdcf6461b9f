"""Recordings with several audio streams or channels, made by the ffmpeg command line from sample arrays
(one per microphone): MKV/MOV/MP4 with a stream per track, titles, language tags and a default stream."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.conftest import skip_or_fail


def write_streams(path: Path, tracks: Sequence[np.ndarray], rate: int, *, codec: str = "flac",
                  titles: Sequence[str | None] = (), languages: Sequence[str | None] = (),
                  default: int | None = None, video: bool = False) -> Path:
    """``path`` with one audio stream per array of ``tracks`` (mono float32), in that order."""
    if shutil.which("ffmpeg") is None:
        skip_or_fail("ffmpeg is not installed (apt-get install ffmpeg)")
    work = path.parent / f".{path.name}-parts"
    work.mkdir(exist_ok=True)
    cmd = ["ffmpeg", "-loglevel", "error", "-y"]
    if video:
        seconds = max(len(t) for t in tracks) / rate
        cmd += ["-f", "lavfi", "-i", f"color=black:size=64x48:rate=10:duration={seconds:.2f}"]
    for i, track in enumerate(tracks):
        part = work / f"{i}.wav"
        sf.write(str(part), np.clip(track, -1, 1), rate, subtype="PCM_16")
        cmd += ["-i", str(part)]
    first = 1 if video else 0
    if video:
        cmd += ["-map", "0:v", "-c:v", "mpeg4"]
    for i in range(len(tracks)):
        cmd += ["-map", f"{first + i}:a"]
    cmd += ["-c:a", codec]
    for i in range(len(tracks)):
        if i < len(titles) and titles[i]:
            cmd += [f"-metadata:s:a:{i}", f"title={titles[i]}"]
        if i < len(languages) and languages[i]:
            cmd += [f"-metadata:s:a:{i}", f"language={languages[i]}"]
        cmd += [f"-disposition:a:{i}", "default" if i == (default if default is not None else 0) else "0"]
    subprocess.run([*cmd, str(path)], check=True, timeout=120)
    shutil.rmtree(work)
    return path


def write_channels(path: Path, tracks: Sequence[np.ndarray], rate: int) -> Path:
    """A WAV (or FLAC) with one channel per array of ``tracks``."""
    n = max(len(t) for t in tracks)
    data = np.zeros((n, len(tracks)), np.float32)
    for c, t in enumerate(tracks):
        data[: len(t), c] = t
    sf.write(str(path), np.clip(data, -1, 1), rate, subtype="PCM_16")
    return path


def damaged_second_stream(path, good_path, from_seconds: float = 0.0):
    """``good_path``'s two streams remuxed into ``path`` with every packet of the second one (from
    ``from_seconds`` on) replaced by noise of the same size: a stream FFmpeg cannot decode in an otherwise
    sound file, or one that breaks on the way."""
    import av

    rng = np.random.default_rng(0)
    with av.open(str(good_path)) as src, av.open(str(path), "w") as dst:
        outs = [dst.add_stream_from_template(s) for s in src.streams.audio]
        for packet in src.demux():
            if packet.dts is None:
                continue
            if packet.stream.index == 1 and float(packet.pts * packet.time_base) >= from_seconds:
                bad = av.Packet(bytes(rng.integers(0, 256, packet.size, dtype=np.uint8)))
                bad.pts, bad.dts, bad.time_base = packet.pts, packet.dts, packet.time_base
                bad.stream = outs[1]
                dst.mux(bad)
            else:
                packet.stream = outs[packet.stream.index]
                dst.mux(packet)
    return path
