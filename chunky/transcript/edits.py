"""Corrections of a transcript's words: retyping words, removing them, renaming a speaker, restoring an
earlier revision. Pure module (standard library only).

The review page sends its corrections as a list of operations on the word list of the revision it
showed (its *base*); :func:`apply_ops` replays them on those words and returns the new words plus each
operation in its *exact* form (the words it wrote, with their times), which is what the revision history
keeps: replaying exact operations gives the same words whatever version of the rules below made them.

Operations (JSON objects; indexes are positions in the word list as it is when the operation runs):

- ``{"op": "replace", "start": i, "stop": j, "text": "new words"}``: words ``i..j-1`` become the words of
  ``text``, spread over the time from the start of word ``i`` to the end of word ``j-1``
  (:func:`spread_words`); an empty ``text`` removes them. ``start == stop`` is not allowed (there is no
  time span to put new words in).
- ``{"op": "set", "start": i, "stop": j, "words": [{"word", "start", "end", "confidence"?, "speaker"?}]}``:
  words ``i..j-1`` become exactly these words (undo and redo send this).
- ``{"op": "speaker", "from": "A", "to": "B", "at": [[i, j], ...]?}``: every word of speaker ``A`` (only
  those in the index ranges ``at``, when given) is now said by ``B``.
- ``{"op": "restore", "revision": n}``: the words become those of revision ``n`` (0: the model's).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from chunky.transcript.model import TIME_DECIMALS, Word

MAX_OPS = 10_000  # operations in one save
MAX_TEXT = 10_000  # characters of one retyped text
MAX_SPEAKER = 80  # characters of a speaker's name
_EPS = 1e-6


class EditError(ValueError):
    """A correction that cannot be applied (bad operation, index out of range); the message says which."""


@dataclass(frozen=True)
class Applied:
    """What :func:`apply_ops` made: the new words, the operations in exact form, and a short summary."""

    words: list[Word]
    exact: list[dict[str, Any]]
    changed: int  # words written (retyped, set or renamed)
    removed: int  # words removed

    def summary(self) -> str:
        parts = []
        if self.changed:
            parts.append(f"{self.changed} word{'s' if self.changed != 1 else ''} changed")
        if self.removed:
            parts.append(f"{self.removed} removed")
        if any(op["op"] == "restore" for op in self.exact):
            parts.insert(0, "restored revision " + ", ".join(
                str(op["revision"]) for op in self.exact if op["op"] == "restore"))
        return ", ".join(parts) or "no change"


def _ms(seconds: float) -> float:
    return round(float(seconds), TIME_DECIMALS)


def spread_words(text: str, start: float, end: float, speaker: str | None = None) -> list[Word]:
    """The words of ``text`` over ``start..end``: each gets a share of the span by its length, with a
    space's share between words; the first starts at ``start`` and the last ends at ``end``. Times are
    rounded to the millisecond. Typed words carry no confidence (a person checked them)."""
    tokens = str(text).split()
    if not tokens:
        return []
    start = float(start)
    span = max(0.0, float(end) - start)
    total = sum(len(t) for t in tokens) + len(tokens) - 1
    out: list[Word] = []
    pos = 0
    for t in tokens:
        a = start + span * pos / total
        pos += len(t)
        b = start + span * pos / total
        pos += 1
        out.append(Word(t, _ms(a), _ms(b), None, speaker))
    return out


def word_from_json(d: Any, duration: float | None = None) -> Word:
    """A word of a ``set`` operation, checked: text, finite times within the recording, ``end >= start``."""
    if not isinstance(d, dict):
        raise EditError("a word must be an object with word, start and end")
    text = " ".join(str(d.get("word", "")).split())
    if not text or len(text) > MAX_TEXT:
        raise EditError("a word must have text")
    try:
        start, end = float(d["start"]), float(d["end"])
    except (KeyError, TypeError, ValueError):
        raise EditError(f"the word {text!r} has no start and end times") from None
    if not (math.isfinite(start) and math.isfinite(end)):
        raise EditError(f"the word {text!r} has times that are not numbers")
    limit = duration if duration and duration > 0 else math.inf
    start = min(max(0.0, start), limit)
    end = min(max(start, end), limit)
    conf = d.get("confidence")
    if conf is not None:
        try:
            conf = float(conf)
        except (TypeError, ValueError):
            conf = None
        if conf is not None and not (math.isfinite(conf) and 0.0 <= conf <= 1.0):
            conf = None
    speaker = d.get("speaker")
    speaker = None if speaker is None else _speaker_name(speaker)
    return Word(text, _ms(start), _ms(end), conf, speaker)


def _speaker_name(raw: Any) -> str:
    name = " ".join(str(raw).split())
    if not name:
        raise EditError("a speaker's name cannot be empty")
    if len(name) > MAX_SPEAKER:
        raise EditError(f"a speaker's name has at most {MAX_SPEAKER} characters")
    return name


def _index(op: dict[str, Any], key: str, n: int) -> int:
    value = op.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise EditError(f"{op.get('op')}: {key} must be a whole number")
    if not 0 <= value <= n:
        raise EditError(f"{op.get('op')}: {key} {value} is outside the transcript (0..{n})")
    return value


def _range(op: dict[str, Any], n: int) -> tuple[int, int]:
    start, stop = _index(op, "start", n), _index(op, "stop", n)
    if stop < start:
        raise EditError(f"{op.get('op')}: stop {stop} comes before start {start}")
    return start, stop


def _runs(raw: Any, n: int) -> list[tuple[int, int]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > n + 1:
        raise EditError("speaker: at must be a list of [start, stop] ranges")
    runs = []
    for item in raw:
        if not (isinstance(item, list | tuple) and len(item) == 2):
            raise EditError("speaker: at must be a list of [start, stop] ranges")
        runs.append(_range({"op": "speaker", "start": item[0], "stop": item[1]}, n))
    return runs


def word_to_json(w: Word) -> dict[str, Any]:
    return w.to_dict()


def apply_ops(words: Sequence[Word], ops: Iterable[Any], duration: float | None = None,
              revision_words: Callable[[int], Sequence[Word]] | None = None) -> Applied:
    """Replay ``ops`` on ``words`` (not changed; a new list is returned). ``revision_words(n)`` gives the
    words of revision ``n`` for ``restore``. EditError names the first operation that cannot be applied."""
    out = list(words)
    exact: list[dict[str, Any]] = []
    changed = removed = 0
    ops = list(ops)
    if len(ops) > MAX_OPS:
        raise EditError(f"too many corrections at once ({len(ops)}; at most {MAX_OPS}): save more often")
    for k, op in enumerate(ops):
        if not isinstance(op, dict):
            raise EditError(f"correction {k + 1} is not an object")
        kind = op.get("op")
        n = len(out)
        if kind == "replace":
            start, stop = _range(op, n)
            if start == stop:
                raise EditError("replace: choose at least one word to retype")
            text = op.get("text", "")
            if not isinstance(text, str) or len(text) > MAX_TEXT:
                raise EditError(f"replace: the text must be at most {MAX_TEXT} characters")
            old = out[start:stop]
            tokens = text.split()
            if len(tokens) == 1 and len(old) == 1:  # one word retyped: its own times stay
                new = [Word(tokens[0], old[0].start, old[0].end, None, old[0].speaker)]
            else:
                new = spread_words(text, old[0].start, max(w.end for w in old), old[0].speaker)
            out[start:stop] = new
            exact.append({"op": "set", "start": start, "stop": stop, "words": [word_to_json(w) for w in new]})
            changed += len(new)
            removed += max(0, len(old) - len(new))
        elif kind == "set":
            start, stop = _range(op, n)
            raw = op.get("words")
            if not isinstance(raw, list) or len(raw) > MAX_TEXT:
                raise EditError("set: words must be a list")
            new = [word_from_json(d, duration) for d in raw]
            out[start:stop] = new
            exact.append({"op": "set", "start": start, "stop": stop, "words": [word_to_json(w) for w in new]})
            changed += len(new)
            removed += max(0, (stop - start) - len(new))
        elif kind == "speaker":
            old_name = op.get("from")
            if old_name is None:
                raise EditError("speaker: say which speaker to rename (from)")
            old_name = _speaker_name(old_name)
            new_name = _speaker_name(op.get("to", ""))
            runs = _runs(op.get("at"), n)
            spans = runs if runs is not None else [(0, n)]
            for a, b in spans:
                for i in range(a, b):
                    if out[i].speaker == old_name:
                        out[i] = replace(out[i], speaker=new_name)
                        changed += 1
            entry: dict[str, Any] = {"op": "speaker", "from": old_name, "to": new_name}
            if runs is not None:
                entry["at"] = [[a, b] for a, b in runs]
            exact.append(entry)
        elif kind == "restore":
            revision = op.get("revision")
            if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
                raise EditError("restore: revision must be a whole number")
            if revision_words is None:
                raise EditError("restore: no revisions to restore from")
            try:
                restored = list(revision_words(revision))
            except (KeyError, LookupError):
                raise EditError(f"restore: there is no revision {revision}") from None
            out = restored
            exact.append({"op": "restore", "revision": revision})
            changed += len(restored)
        else:
            raise EditError(f"correction {k + 1}: unknown kind {kind!r}")
    out = _in_time_order(out)
    return Applied(out, exact, changed, removed)


def _in_time_order(words: list[Word]) -> list[Word]:
    """The words sorted by start (stable), as every transcript keeps them."""
    if all(words[i].start <= words[i + 1].start + _EPS for i in range(len(words) - 1)):
        return words
    return sorted(words, key=lambda w: w.start)


def speakers_of(words: Iterable[Word]) -> list[str]:
    """The named speakers, in the order they first speak."""
    return list(dict.fromkeys(w.speaker for w in words if w.speaker is not None))
