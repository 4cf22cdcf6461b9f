"""Chunky: exact, timestamped transcripts from NVIDIA NeMo speech models, on your own PC.

Entry points import ``chunky.bootstrap`` first; this package file stays free of heavy imports.
"""

__version__ = "0.1.0"
