"""The Gradio page. Every event runs with queue=False (Gradio's queue hangs on some Windows setups)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from chunky.bootstrap import paths

log = logging.getLogger("chunky.ui")


def build_page():
    import gradio as gr

    with gr.Blocks(title="Chunky", delete_cache=(3600, 86400)) as page:
        gr.Markdown("# Chunky\nLocal, exact, timestamped transcripts from NVIDIA NeMo models.")
    return page


def launch(*, host: str, port: int, share: bool, open_browser: bool,
           browser_opener: Callable[[str], object] | None = None) -> None:
    page = build_page()
    p = paths()
    page.launch(
        server_name=host,
        server_port=port,
        share=share,
        inbrowser=open_browser,
        max_file_size="4gb",
        enable_monitoring=False,
        allowed_paths=[str(p.outputs)],
        footer_links=["gradio", "settings"],
    )
