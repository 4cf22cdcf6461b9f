"""Output formats: one small writer per format behind :func:`get_writer` (after openai/whisper's
``utils.py``); :func:`write_outputs` renders the formats asked for and saves each file atomically.
No torch, nemo or gradio."""

from chunky.export.base import UnknownFormatError, Writer, format_timestamp
from chunky.export.files import write_outputs
from chunky.export.registry import FORMATS, WRITERS, get_writer, parse_formats

__all__ = ["FORMATS", "WRITERS", "UnknownFormatError", "Writer", "format_timestamp", "get_writer",
           "parse_formats", "write_outputs"]
