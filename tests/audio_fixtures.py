"""Helpers that write small audio and video test files with soundfile and PyAV (no ffmpeg command line)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

_INT_SCALE = {"s16": 32767, "s16p": 32767, "s32": 2**31 - 1, "s32p": 2**31 - 1}
_DTYPES = {
    "flt": np.float32, "fltp": np.float32, "dbl": np.float64, "dblp": np.float64,
    "s16": np.int16, "s16p": np.int16, "s32": np.int32, "s32p": np.int32,
}
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 6: "5.1"}


def sine(freq: float, rate: int, seconds: float, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    """A sine of `freq` Hz as float32 of shape (frames, channels); every channel holds the same tone."""
    t = np.arange(int(round(seconds * rate))) / rate
    tone = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(tone[:, None], channels, axis=1)


def write_soundfile(path: Path, data: np.ndarray, rate: int, format: str | None = None,
                    subtype: str | None = None) -> Path:
    import soundfile as sf

    sf.write(str(path), data, rate, format=format, subtype=subtype)
    return path


def _frame(chunk: np.ndarray, fmt_name: str, layout: str, rate: int, pts: int):
    """An AudioFrame in the encoder's sample format from float samples of shape (n, channels)."""
    import av

    dtype = _DTYPES[fmt_name]
    values = chunk
    if fmt_name in _INT_SCALE:
        values = np.clip(chunk, -1.0, 1.0) * _INT_SCALE[fmt_name]
    values = values.astype(dtype)
    array = values.T.copy() if av.AudioFormat(fmt_name).is_planar else values.reshape(1, -1).copy()
    frame = av.AudioFrame.from_ndarray(array, format=fmt_name, layout=layout)
    frame.sample_rate = rate
    frame.pts = pts
    frame.time_base = Fraction(1, rate)
    return frame


def write_pyav(path: Path, data: np.ndarray | None, rate: int, codec: str | None,
               container_format: str | None = None, video_codec: str | None = None,
               video_seconds: float = 1.0) -> Path:
    """Encodes `data` (frames, channels) with `codec`; adds a small black video track if `video_codec`."""
    import av

    with av.open(str(path), "w", format=container_format) as container:
        video = None
        if video_codec:
            video = container.add_stream(video_codec, rate=10)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        if data is not None and codec:
            channels = data.shape[1]
            layout = _LAYOUTS[channels]
            stream = container.add_stream(codec, rate=rate, layout=layout)
            formats = [f.name for f in stream.codec_context.codec.audio_formats or []]
            preferred = ("fltp", "flt", "s16", "s16p", "s32", "s32p")
            fmt_name = next((f for f in preferred if f in formats), "fltp")
            stream.format = fmt_name
            frame_size = stream.codec_context.frame_size or 1024
            for pos in range(0, len(data), frame_size):
                frame = _frame(data[pos : pos + frame_size], fmt_name, layout, rate, pos)
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        if video is not None:
            for i in range(int(video_seconds * 10)):
                image = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
                image.pts = i
                for packet in video.encode(image):
                    container.mux(packet)
            for packet in video.encode(None):
                container.mux(packet)
    return path


def write_png(path: Path) -> Path:
    """A real (tiny) PNG image, whatever the name says."""
    import av

    with av.open(str(path), "w", format="image2pipe") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 8, 8, "rgb24"
        image = av.VideoFrame.from_ndarray(np.full((8, 8, 3), 200, np.uint8), format="rgb24")
        for packet in stream.encode(image):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
