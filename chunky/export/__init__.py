"""Output formats: one small writer per format behind :func:`get_writer` (after openai/whisper's
``utils.py``); :func:`render` lays a transcript out once (:class:`ExportOptions`: the subtitle rules, the
timecode, format choices) and :func:`export_files` renders the formats asked for and saves each file
atomically. No torch, nemo or gradio."""

from chunky.export.base import (
    FCPXML_KINDS,
    MARKER_UNITS,
    Document,
    ExportOptions,
    UnknownFormatError,
    Writer,
    format_timestamp,
    render,
)
from chunky.export.files import Exported, export_files, write_outputs
from chunky.export.registry import DEFAULT_FORMATS, FORMATS, WRITERS, get_writer, parse_formats

__all__ = ["DEFAULT_FORMATS", "FCPXML_KINDS", "FORMATS", "MARKER_UNITS", "WRITERS", "Document",
           "ExportOptions", "Exported", "UnknownFormatError", "Writer", "export_files", "format_timestamp",
           "get_writer", "parse_formats", "render", "write_outputs"]
