"""chunky.audio.decode: probing, decoding, resampling and errors for bad input (files made with
soundfile/PyAV)."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from chunky.audio import decode as audio
from chunky.base.errors import AudioError
from tests.audio_fixtures import _frame, sine, write_png, write_pyav, write_soundfile
from tests.conftest import skip_or_fail

ASSETS = Path(__file__).resolve().parent / "assets" / "audio"
RATE = 16000
TONE = 440.0


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum)) * rate / len(samples)


def need_encoder(name: str) -> None:
    import av

    try:
        av.codec.Codec(name, "w")
    except Exception:
        skip_or_fail(f"this PyAV build has no {name} encoder")


def truncated(src: Path, dst: Path, keep: float | int) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: keep if isinstance(keep, int) else int(len(data) * keep)])
    return dst


def assert_tone(path: Path, info: audio.AudioInfo, seconds: float, tolerance: float = 0.05) -> np.ndarray:
    samples = audio.load_audio(path, target_rate=RATE)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(info.duration - seconds) < tolerance, info
    assert abs(len(samples) / RATE - seconds) < tolerance
    assert abs(peak_hz(samples, RATE) - TONE) < 3
    assert 0.3 < np.abs(samples).max() < 0.9  # (FFmpeg's own AAC encoder overshoots a little)
    return samples


# ------------------------------------------------------------------------------------------------ formats

SOUNDFILE_FORMATS = [
    ("u8.wav", "WAV", "PCM_U8", "pcm_u8"),
    ("s16.wav", "WAV", "PCM_16", "pcm_16"),
    ("s24.wav", "WAV", "PCM_24", "pcm_24"),
    ("s32.wav", "WAV", "PCM_32", "pcm_32"),
    ("f32.wav", "WAV", "FLOAT", "float"),
    ("f64.wav", "WAV", "DOUBLE", "double"),
    ("a.flac", "FLAC", "PCM_16", "flac"),
    ("a.ogg", "OGG", "VORBIS", "vorbis"),
    ("a.opus", "OGG", "OPUS", "opus"),
    ("a.mp3", "MP3", "MPEG_LAYER_III", "mp3"),
    ("a.aiff", "AIFF", "PCM_16", "pcm_16"),
]


@pytest.mark.parametrize(("name", "fmt", "subtype", "codec"), SOUNDFILE_FORMATS)
def test_soundfile_formats(tmp_path, name, fmt, subtype, codec):
    if subtype not in sf.available_subtypes(fmt):
        skip_or_fail(f"libsndfile cannot write {fmt}/{subtype}")
    rate = 48000 if subtype == "OPUS" else 44100
    path = write_soundfile(tmp_path / name, sine(TONE, rate, 1.0, channels=2), rate, fmt, subtype)
    info = audio.probe(path)
    assert (info.backend, info.codec, info.sample_rate, info.channels) == ("soundfile", codec, rate, 2)
    assert_tone(path, info, 1.0)


PYAV_FORMATS = [
    # name, audio codec, container format, video codec, expected codec
    ("a.m4a", "aac", None, None, "aac"),
    ("a.mp4", "aac", None, "libx264", "aac"),
    ("a.mov", "aac", None, "mpeg4", "aac"),
    ("a.mkv", "flac", None, None, "flac"),
    ("a.webm", "libopus", None, "libvpx", "opus"),
    ("lame.mp3", "libmp3lame", None, None, "mp3"),
    ("a.ac3", "ac3", None, None, "ac3"),
]


@pytest.mark.parametrize(("name", "codec", "container", "video", "expected"), PYAV_FORMATS)
def test_pyav_formats(tmp_path, name, codec, container, video, expected):
    need_encoder(codec)
    if video:
        need_encoder(video)
    path = write_pyav(tmp_path / name, sine(TONE, 48000, 1.0, channels=2), 48000, codec, container, video)
    info = audio.probe(path)
    assert info.channels == 2 and info.sample_rate == 48000 and info.codec == expected
    # libsndfile reads MP3 itself; everything else goes through FFmpeg
    assert info.backend == ("soundfile" if name.endswith(".mp3") else "pyav")
    assert_tone(path, info, 1.0)


def test_unknown_container_duration_is_counted(tmp_path):
    """A Matroska file written to a pipe has no duration in its header: probe decodes to measure it."""
    import av

    need_encoder("libopus")

    class Pipe:  # write-only, not seekable: the muxer cannot go back to fill in the duration
        def __init__(self):
            self.data = bytearray()

        def write(self, b):
            self.data += bytes(b)
            return len(b)

    pipe = Pipe()
    tone = sine(TONE, 48000, 1.0)
    with av.open(pipe, "w", format="matroska") as container:
        stream = container.add_stream("libopus", rate=48000, layout="mono")
        stream.format = "flt"
        for pos in range(0, len(tone), 1024):
            for packet in stream.encode(_frame(tone[pos : pos + 1024], "flt", "mono", 48000, pos)):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    path = tmp_path / "live.mkv"
    path.write_bytes(pipe.data)
    with av.open(str(path)) as c:
        assert c.duration is None and c.streams.audio[0].duration is None
    info = audio.probe(path)
    assert info.backend == "pyav" and abs(info.duration - 1.0) < 0.03
    assert abs(len(audio.load_audio(path)) - RATE) < 0.03 * RATE


def test_real_speech_asset_round_trip():
    path = ASSETS / "sentence-1.flac"
    info = audio.probe(path)
    assert (info.sample_rate, info.channels, info.codec, info.backend) == (16000, 1, "flac", "soundfile")
    expected, rate = sf.read(str(path), dtype="float32")
    samples = audio.load_audio(path, target_rate=16000)
    assert rate == 16000 and np.array_equal(samples, expected)
    assert abs(info.duration - len(expected) / rate) < 1e-6
    assert not audio.is_silent(samples)


def test_audio_info_is_frozen():
    info = audio.AudioInfo(1.0, 16000, 1, "flac", "soundfile")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.duration = 2.0  # type: ignore[misc]


# ----------------------------------------------------------------------------------- downmix, resampling


def test_stereo_downmix_averages_channels(tmp_path):
    left = sine(TONE, RATE, 1.0)[:, 0]
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    path = write_soundfile(tmp_path / "left-only.wav", stereo, RATE, "WAV", "FLOAT")
    samples = audio.load_audio(path, RATE)
    np.testing.assert_allclose(samples, left / 2, atol=1e-6)


def test_multichannel_downmix(tmp_path):
    tone = sine(TONE, 48000, 1.0)[:, 0]
    channels = np.zeros((len(tone), 6), np.float32)
    channels[:, 2] = tone
    path = write_soundfile(tmp_path / "surround.wav", channels, 48000, "WAV", "FLOAT")
    info = audio.probe(path)
    assert info.channels == 6
    samples = audio.load_audio(path, RATE)
    assert abs(np.abs(samples[1000:-1000]).max() - 0.5 / 6) < 0.005
    assert abs(peak_hz(samples, RATE) - TONE) < 2


def test_pyav_stereo_downmix(tmp_path):
    tone = sine(TONE, 48000, 1.0)[:, 0]
    path = write_pyav(tmp_path / "left.mkv", np.stack([tone, np.zeros_like(tone)], axis=1), 48000, "flac")
    samples = audio.load_audio(path, RATE)
    assert abs(np.abs(samples[1000:-1000]).max() - 0.25) < 0.01


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 16000])
def test_resampling_keeps_length_and_frequency(tmp_path, rate):
    freq = 1000.0
    tone = sine(freq, rate, 2.0)
    path = write_soundfile(tmp_path / f"tone-{rate}.wav", tone, rate, "WAV", "FLOAT")
    samples = audio.load_audio(path, RATE)
    assert abs(len(samples) - round(len(tone) * RATE / rate)) <= 1
    assert abs(peak_hz(samples, RATE) - freq) < 2
    assert abs(np.abs(samples[2000:-2000]).max() - 0.5) < 0.01
    expected = soxr.resample(tone[:, 0], rate, RATE, quality=audio.RESAMPLE_QUALITY)
    np.testing.assert_allclose(samples, expected, atol=1e-5)


def test_other_target_rate(tmp_path):
    path = write_soundfile(tmp_path / "t.wav", sine(TONE, 44100, 1.0), 44100, "WAV", "PCM_16")
    samples = audio.load_audio(path, target_rate=24000)
    assert len(samples) == 24000 and abs(peak_hz(samples, 24000) - TONE) < 2


@pytest.mark.parametrize("backend_file", ["wav", "mkv"])
def test_blocks_join_seamlessly(tmp_path, backend_file):
    """Many small blocks through one streaming resampler equal one-shot resampling of the whole file."""
    rng = np.random.default_rng(7)
    rate = 44100
    stereo = (0.3 * sine(TONE, rate, 4.0, channels=2) + 0.05 * rng.standard_normal((4 * rate, 2))).astype(
        np.float32
    )
    if backend_file == "wav":
        path = write_soundfile(tmp_path / "noise.wav", stereo, rate, "WAV", "FLOAT")
    else:  # lossless through FFmpeg: FLAC in Matroska, 16-bit
        stereo = np.round(stereo * 32767) / 32767
        path = write_pyav(tmp_path / "noise.mkv", stereo, rate, "flac")
    mono = stereo.mean(axis=1, dtype=np.float32)
    expected = soxr.resample(mono, rate, RATE, quality=audio.RESAMPLE_QUALITY)

    blocks = list(audio.iter_blocks(path, RATE, block_seconds=0.37))
    assert len(blocks) > 8
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    joined = np.concatenate(blocks)
    assert len(joined) == len(expected)
    tolerance = 1e-5 if backend_file == "wav" else 1e-4
    np.testing.assert_allclose(joined, expected, atol=tolerance)
    np.testing.assert_allclose(audio.load_audio(path, RATE), expected, atol=tolerance)


def test_iter_blocks_without_resampling(tmp_path):
    tone = sine(TONE, RATE, 3.0)
    path = write_soundfile(tmp_path / "t.flac", tone, RATE, "FLAC", "PCM_24")
    blocks = list(audio.iter_blocks(path, RATE, block_seconds=1.0))
    assert len(blocks) == 3
    np.testing.assert_allclose(np.concatenate(blocks), tone[:, 0], atol=1e-6)


def test_iter_blocks_checks_the_file_at_once(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        audio.iter_blocks(tmp_path / "missing.wav", RATE)


# ------------------------------------------------------------------------------------------- bad input


def _both_raise(path: Path, pattern: str) -> AudioError:
    with pytest.raises(AudioError, match=pattern) as probed:
        audio.probe(path)
    with pytest.raises(AudioError, match=pattern):
        audio.load_audio(path, RATE)
    assert path.name in str(probed.value)
    return probed.value


def test_missing_file(tmp_path):
    _both_raise(tmp_path / "nope.wav", r"nope\.wav: file not found")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.m4a"
    path.write_bytes(b"")
    _both_raise(path, r"empty\.m4a is empty \(0 bytes\)")


def test_folder(tmp_path):
    (tmp_path / "folder.wav").mkdir()
    _both_raise(tmp_path / "folder.wav", "is a folder, not an audio file")


def test_text_file_renamed_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("Meeting notes\nNothing to hear here.\n", encoding="utf-8")
    error = _both_raise(path, r"notes\.wav is not an audio file: it looks like a text file")
    assert error.__cause__ is not None


def test_png_renamed_wav(tmp_path):
    path = write_png(tmp_path / "picture.wav")
    _both_raise(path, r"picture\.wav is not an audio file: it looks like a PNG image")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    _both_raise(path, r"noise\.wav cannot be decoded: it is not a recognised audio or video format")


def test_video_without_audio_track(tmp_path):
    need_encoder("libx264")
    path = write_pyav(tmp_path / "silent film.mp4", None, 0, None, None, "libx264")
    _both_raise(path, r"silent film\.mp4 has no audio track")


def test_zero_length_audio(tmp_path):
    path = write_soundfile(tmp_path / "nothing.wav", np.zeros((0, 1), np.float32), RATE, "WAV", "PCM_16")
    _both_raise(path, r"nothing\.wav contains no audio \(zero length\)")


def test_too_short(tmp_path):
    path = write_soundfile(tmp_path / "blip.flac", sine(TONE, 48000, 0.05), 48000, "FLAC")
    _both_raise(path, r"blip\.flac is too short \(0\.050 s\)")
    ok = write_soundfile(tmp_path / "ok.flac", sine(TONE, 48000, 0.12), 48000, "FLAC")
    assert len(audio.load_audio(ok, RATE)) == round(0.12 * RATE)


def test_truncated_wav_decodes_what_is_there(tmp_path, caplog):
    full = write_soundfile(tmp_path / "full.wav", sine(TONE, 44100, 2.0), 44100, "WAV", "PCM_16")
    path = truncated(full, tmp_path / "cut.wav", 0.5)
    with caplog.at_level(logging.WARNING, logger="chunky.audio.decode"):
        samples = audio.load_audio(path, RATE)
    assert abs(len(samples) / RATE - 1.0) < 0.01
    assert "cut.wav is truncated" in caplog.text


def test_wav_header_without_data(tmp_path):
    full = write_soundfile(tmp_path / "full.wav", sine(TONE, 44100, 1.0), 44100, "WAV", "PCM_16")
    path = truncated(full, tmp_path / "header-only.wav", 44)
    _both_raise(path, r"header-only\.wav is truncated: the header promises audio but none of it is present")


def test_truncated_flac_decodes_what_is_there(tmp_path, caplog):
    rng = np.random.default_rng(1)
    noise = (0.1 * rng.standard_normal((3 * RATE, 1))).astype(np.float32)
    full = write_soundfile(tmp_path / "full.flac", noise, RATE, "FLAC", "PCM_16")
    path = truncated(full, tmp_path / "cut.flac", 0.5)
    assert abs(audio.probe(path).duration - 3.0) < 1e-6  # the header still says 3 s
    with caplog.at_level(logging.WARNING, logger="chunky.audio.decode"):
        samples = audio.load_audio(path, RATE)
    assert 1.0 < len(samples) / RATE < 1.6
    assert "cut.flac is damaged or truncated" in caplog.text
    np.testing.assert_allclose(samples[: RATE], noise[:RATE, 0], atol=1e-4)


def test_flac_with_no_decodable_frame(tmp_path):
    noise = (0.1 * np.random.default_rng(2).standard_normal((RATE, 1))).astype(np.float32)
    full = write_soundfile(tmp_path / "full.flac", noise, RATE, "FLAC", "PCM_16")
    data = full.read_bytes()
    first_frame = data.index(b"\xff\xf8")
    path = truncated(full, tmp_path / "stub.flac", first_frame + 10)
    with pytest.raises(AudioError, match=r"stub\.flac is damaged or truncated: no audio could be decoded"):
        audio.load_audio(path, RATE)


def test_truncated_m4a_without_index(tmp_path):
    full = write_pyav(tmp_path / "full.m4a", sine(TONE, 48000, 2.0), 48000, "aac")
    path = truncated(full, tmp_path / "cut.m4a", 0.5)  # the index (moov) is at the end: lost
    _both_raise(path, r"cut\.m4a cannot be decoded: .*damaged or incomplete")


def test_truncated_webm_decodes_what_is_there(tmp_path, caplog):
    need_encoder("libopus")
    noise = (0.1 * np.random.default_rng(3).standard_normal((4 * 48000, 1))).astype(np.float32)
    full = write_pyav(tmp_path / "full.webm", noise, 48000, "libopus")
    path = truncated(full, tmp_path / "cut.webm", 0.5)
    assert audio.probe(path).duration > 3.9
    with caplog.at_level(logging.WARNING, logger="chunky.audio.decode"):
        samples = audio.load_audio(path, RATE)
    assert 1.5 < len(samples) / RATE < 2.5
    assert "cut.webm seems truncated or damaged" in caplog.text


def test_some_nan_samples_become_silence(tmp_path, caplog):
    tone = sine(TONE, RATE, 1.0, channels=2)
    tone[1000:1100, 0] = np.nan
    tone[5000, 1] = np.inf
    tone[6000, 1] = -np.inf
    path = write_soundfile(tmp_path / "glitch.wav", tone, RATE, "WAV", "FLOAT")
    with caplog.at_level(logging.WARNING, logger="chunky.audio.decode"):
        samples = audio.load_audio(path, RATE)
    assert np.isfinite(samples).all()
    assert "glitch.wav: 102 invalid sample(s)" in caplog.text
    np.testing.assert_allclose(samples[1000:1100], tone[1000:1100, 1] / 2, atol=1e-6)


def test_all_nan_samples(tmp_path):
    path = write_soundfile(tmp_path / "broken.wav", np.full((RATE, 1), np.nan, np.float32), RATE, "WAV",
                           "FLOAT")
    with pytest.raises(AudioError, match=r"broken\.wav contains invalid samples \(NaN or infinity\)"):
        audio.load_audio(path, RATE)


def test_errors_never_leak_backend_exceptions(tmp_path):
    """Whatever the damage, the caller sees AudioError (with the backend's exception as its cause)."""
    full = write_pyav(tmp_path / "full.mkv", sine(TONE, 48000, 1.0), 48000, "flac")
    data = full.read_bytes()
    rng = np.random.default_rng(4)
    for i, cut in enumerate([3, 40, 200, len(data) // 3]):
        damaged = bytearray(data[:cut] + rng.bytes(400) + data[cut + 400 :])
        path = tmp_path / f"damaged-{i}.mkv"
        path.write_bytes(bytes(damaged))
        try:
            audio.probe(path)
            audio.load_audio(path, RATE)
        except AudioError as exc:
            assert path.name in str(exc)


# ------------------------------------------------------------------------------------ names, extensions


def test_misleading_extensions(tmp_path):
    tone = sine(TONE, 48000, 1.0)
    sources = {
        "mp3": write_soundfile(tmp_path / "a.mp3", tone, 48000, "MP3"),
        "m4a": write_pyav(tmp_path / "a.m4a", tone, 48000, "aac"),
        "wav": write_soundfile(tmp_path / "a.wav", tone, 48000, "WAV", "PCM_16"),
        "flac": write_soundfile(tmp_path / "a.flac", tone, 48000, "FLAC"),
    }
    for real, fake in [("mp3", "wav"), ("m4a", "wav"), ("wav", "mp3"), ("flac", "m4a"), ("m4a", "ogg")]:
        path = shutil.copy(sources[real], tmp_path / f"really-{real}.{fake}")
        info = audio.probe(path)
        assert info.codec in {"mp3": ("mp3",), "m4a": ("aac",), "wav": ("pcm_16",), "flac": ("flac",)}[real]
        assert_tone(Path(path), info, 1.0)


@pytest.mark.parametrize("ext", ["wav", "flac", "m4a", "mp3"])
def test_non_ascii_name_with_spaces(tmp_path, ext):
    folder = tmp_path / "Aufnahmen für Zoë"
    folder.mkdir()
    path = folder / f"Grüße aus Köln – 日本語 é {ext}.{ext}"
    tone = sine(TONE, 48000, 1.0)
    if ext == "m4a":
        write_pyav(path, tone, 48000, "aac")
    else:
        write_soundfile(path, tone, 48000, {"wav": "WAV", "flac": "FLAC", "mp3": "MP3"}[ext])
    assert_tone(path, audio.probe(path), 1.0)
    truncated(path, folder / "leer – 空.wav", 0)
    with pytest.raises(AudioError, match="leer – 空.wav is empty"):
        audio.probe(folder / "leer – 空.wav")


def test_accepts_str_paths(tmp_path):
    path = write_soundfile(tmp_path / "s.wav", sine(TONE, RATE, 1.0), RATE, "WAV", "PCM_16")
    assert audio.probe(str(path)).duration == 1.0
    assert len(audio.load_audio(str(path))) == RATE


# ------------------------------------------------------------------------------------------- is_silent


def test_is_silent():
    rng = np.random.default_rng(5)
    assert audio.is_silent(np.zeros(RATE, np.float32))
    assert audio.is_silent(np.zeros(0, np.float32))
    quiet = (10 ** (-70 / 20) * np.clip(rng.standard_normal(RATE), -1, 1)).astype(np.float32)
    assert audio.is_silent(quiet)
    assert not audio.is_silent(quiet, threshold_db=-80.0)
    audible = (10 ** (-50 / 20) * sine(TONE, RATE, 1.0, amp=1.0)[:, 0]).astype(np.float32)
    assert not audio.is_silent(audible)
    assert audio.is_silent(audible, threshold_db=-40.0)
    one_click = np.zeros(RATE, np.float32)
    one_click[123] = -0.01
    assert not audio.is_silent(one_click)


def test_silent_file(tmp_path):
    path = write_soundfile(tmp_path / "quiet.flac", np.zeros((RATE, 2), np.float32), RATE, "FLAC")
    samples = audio.load_audio(path, RATE)
    assert len(samples) == RATE and audio.is_silent(samples)


def test_load_audio_as_float16_halves_the_memory_and_keeps_the_samples(tmp_path):
    import soundfile as sf

    from chunky.audio.decode import load_audio

    src = Path(__file__).resolve().parent / "assets" / "audio" / "sentence-1.flac"
    full = load_audio(src, 16000)
    half = load_audio(src, 16000, dtype=np.float16)
    assert half.dtype == np.float16 and half.nbytes * 2 == full.nbytes
    assert np.allclose(half.astype(np.float32), full, rtol=2**-10, atol=1e-6)
    assert sf.info(str(src)).samplerate == 16000
    with pytest.raises(ValueError):
        load_audio(src, 16000, dtype=np.int16)
