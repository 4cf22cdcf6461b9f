"""Text to read: TXT and DOCX (timecoded paragraphs for paper edits), paragraphs laid out by the
paragraph rules."""

from __future__ import annotations

import io

from chunky.export.base import Document, Writer


class TxtWriter(Writer):
    """The text in paragraphs, a blank line between them; ``Speaker: `` before a paragraph when known."""

    name = "txt"
    extension = "txt"
    label = "plain text in paragraphs"

    def write(self, doc: Document) -> str:
        paragraphs = [f"{p.speaker}: {p.text}" if p.speaker else p.text for p in doc.paragraphs if p.text]
        if not paragraphs and doc.transcript.text.strip():
            paragraphs = [doc.transcript.text.strip()]
        return "\n\n".join(paragraphs) + ("\n" if paragraphs else "")


class DocxWriter(Writer):
    """A Word document for paper edits: the recording's name as the title, a line on the timeline (frame
    rate, start timecode), then one paragraph per paragraph of the transcript that starts with its
    timecode in bold (and the speaker, when known)."""

    name = "docx"
    extension = "docx"
    label = "Word document with timecodes"

    def write(self, doc: Document) -> bytes:
        import docx  # python-docx; imported here, it is only needed for this format
        from docx.shared import Pt

        document = docx.Document()
        document.core_properties.title = doc.title
        document.core_properties.author = "Chunky"
        document.add_heading(doc.title, level=1)
        timing = doc.timing
        info = document.add_paragraph()
        info.add_run(f"{timing.rate.describe()}, starting at {timing.start_timecode}"
                     + (f" · model {doc.transcript.model}" if doc.transcript.model else "")).italic = True
        for p in doc.paragraphs:
            if not p.text:
                continue
            para = document.add_paragraph()
            stamp = para.add_run(f"{timing.timecode_of(p.start)}\t")
            stamp.bold = True
            stamp.font.size = Pt(9)
            if p.speaker:
                para.add_run(f"{p.speaker}: ").bold = True
            para.add_run(p.text)
        buf = io.BytesIO()
        document.save(buf)
        return buf.getvalue()
