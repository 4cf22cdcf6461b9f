"""Vocabulary lists: words and phrases to favour, each with an optional strength. Pure (no torch).

Forms one list can take (``--vocabulary``, ``CHUNKY_VOCABULARY``, the page's box):
- a file, one phrase a line, ``phrase`` / ``phrase:2.0`` / ``phrase<TAB>2.0``; a line starting with ``#``
  is a comment;
- the name of a saved list (``model_cache/vocabularies/<name>.txt``);
- the phrases themselves, separated by commas or new lines: ``"Siobhan, Llanelli:2, DaVinci Resolve"``.
A strength multiplies the list's boost (default 1); 0 leaves a phrase out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chunky.base.errors import ChunkyError
from chunky.base.fs import atomic_write

MAX_PHRASES = 5000  # NeMo builds one tree of them per decoding; more is a mistake, not a vocabulary
MAX_PHRASE_CHARS = 100
MAX_STRENGTH = 10.0
LIST_FOLDER = "vocabularies"
_STRENGTH = re.compile(r"^(?P<phrase>.*?)(?:\s*[:\t]\s*(?P<strength>[-+]?\d+(?:\.\d+)?))?\s*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")


class VocabularyError(ChunkyError):
    """A vocabulary list that cannot be used (empty, too long, a bad strength, an unknown list)."""


@dataclass(frozen=True)
class Phrase:
    text: str
    strength: float = 1.0


@dataclass(frozen=True)
class Vocabulary:
    phrases: tuple[Phrase, ...] = ()
    source: str = ""  # where it came from, for messages ("list 'show-42'", "file D:/names.txt", "the box")
    notes: tuple[str, ...] = field(default=(), compare=False)  # lines that were skipped, and why

    def __bool__(self) -> bool:
        return bool(self.phrases)

    @property
    def texts(self) -> list[str]:
        return [p.text for p in self.phrases]


def parse_phrases(text: str, source: str = "the vocabulary", *, inline: bool = False) -> Vocabulary:
    """Phrases from ``text``: one a line (``inline``: commas separate them too). VocabularyError for a
    bad strength or more than MAX_PHRASES; repeated phrases are kept once (the strongest)."""
    lines = re.split(r"[\n,;]" if inline else r"\n", text.replace("\r", "\n"))
    found: dict[str, Phrase] = {}
    notes: list[str] = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or (not inline and line.startswith("#")):
            continue
        match = _STRENGTH.match(line)
        phrase = " ".join((match.group("phrase") if match else line).split())
        strength = 1.0
        if match and match.group("strength") is not None:
            strength = float(match.group("strength"))
            if not 0 <= strength <= MAX_STRENGTH:
                raise VocabularyError(f"{source}, line {number}: the strength of {phrase!r} must be between "
                                      f"0 and {MAX_STRENGTH:g}, not {match.group('strength')}.")
        if not phrase:
            continue
        if len(phrase) > MAX_PHRASE_CHARS:
            notes.append(f"line {number}: longer than {MAX_PHRASE_CHARS} characters, left out")
            continue
        if strength == 0:
            continue
        key = phrase.lower()
        if key not in found:
            found[key] = Phrase(phrase, strength)
        elif found[key].strength < strength:  # kept once, as first written, at its strongest
            found[key] = Phrase(found[key].text, strength)
        if len(found) > MAX_PHRASES:
            raise VocabularyError(f"{source} has more than {MAX_PHRASES} phrases; keep the names and words "
                                  "this recording needs (one list per show or client).")
    return Vocabulary(tuple(found.values()), source, tuple(notes))


def to_text(vocabulary: Vocabulary) -> str:
    """The list as a file's text (what :func:`parse_phrases` reads back)."""
    return "".join(f"{p.text}\n" if p.strength == 1 else f"{p.text}\t{p.strength:g}\n"
                   for p in vocabulary.phrases)


def parse_strength(raw: str) -> float:
    """The list's strength (``--vocabulary-strength``): more than 0, at most MAX_STRENGTH."""
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ValueError("not a number") from None
    if not 0 < value <= MAX_STRENGTH:
        raise ValueError(f"must be more than 0 and at most {MAX_STRENGTH:g}")
    return value


def check_name(name: str) -> str:
    name = str(name).strip()
    if not _NAME.match(name):
        raise VocabularyError(f"{name!r} cannot name a vocabulary list: use letters, digits, spaces, '-', "
                              "'_' or '.', at most 64 characters.")
    return name


class VocabularyLists:
    """Named lists kept in ``model_cache/vocabularies/<name>.txt`` (one per show or client)."""

    def __init__(self, model_cache: Path):
        self.folder = Path(model_cache) / LIST_FOLDER

    def path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}.txt"

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted((p.stem for p in self.folder.glob("*.txt") if _NAME.match(p.stem)), key=str.lower)

    def load(self, name: str) -> Vocabulary:
        path = self.path(name)
        try:
            text = path.read_text("utf-8-sig")
        except FileNotFoundError:
            have = ", ".join(self.names()) or "none"
            raise VocabularyError(f"No vocabulary list named {name!r} (saved lists: {have}).") from None
        return parse_phrases(text, f"list {name!r}")

    def save(self, name: str, vocabulary: Vocabulary) -> Path:
        if not vocabulary:
            raise VocabularyError(f"The vocabulary list {name!r} would be empty: nothing was saved.")
        path = self.path(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, to_text(vocabulary).encode("utf-8"))
        return path

    def remove(self, name: str) -> bool:
        try:
            self.path(name).unlink()
        except FileNotFoundError:
            return False
        return True


def resolve(raw: str | None, lists: VocabularyLists | None = None) -> Vocabulary:
    """What ``--vocabulary`` / the page's box names: a file, a saved list, or phrases themselves."""
    text = (raw or "").strip()
    if not text:
        return Vocabulary()
    if "\n" not in text and len(text) < 260:
        path = Path(text).expanduser()
        if path.suffix.lower() in (".txt", ".tsv", ".csv", ".list") or path.is_file():
            try:
                return parse_phrases(path.read_text("utf-8-sig"), f"file {path}")
            except FileNotFoundError:
                raise VocabularyError(f"The vocabulary file {path} does not exist.") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise VocabularyError(f"The vocabulary file {path} cannot be read: {exc}") from None
        if lists is not None and _NAME.match(text) and text in lists.names():
            return lists.load(text)
    return parse_phrases(text, "the vocabulary", inline=True)


def spellable(vocabulary: Vocabulary, can_spell: Iterable[str] | None
              ) -> tuple[Vocabulary, list[str]]:
    """The phrases the model can write with its own characters (``can_spell``: those characters, lower
    case, or None when any text can be tokenized), and a note for each left out: which characters."""
    if can_spell is None:
        return vocabulary, []
    allowed = set(can_spell)
    kept: list[Phrase] = []
    notes: list[str] = []
    for p in vocabulary.phrases:
        text = p.text.lower() if not any(c.isupper() for c in allowed) else p.text
        bad = sorted({c for c in text if c not in allowed and not c.isspace()})
        if bad:
            notes.append(f"{p.text!r} left out: the model cannot write {' '.join(repr(c) for c in bad)}")
        else:
            kept.append(Phrase(text, p.strength))
    return Vocabulary(tuple(kept), vocabulary.source, vocabulary.notes), notes


def strengths(vocabulary: Vocabulary) -> Sequence[float]:
    return [p.strength for p in vocabulary.phrases]
