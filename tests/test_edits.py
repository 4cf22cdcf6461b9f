"""Corrections as pure functions (chunky.transcript.edits): retyping, spreading new words over the old
span, removing, exact set (undo), speaker renames, restore, and every bad operation refused."""

from __future__ import annotations

import pytest

from chunky.transcript.edits import EditError, apply_ops, speakers_of, spread_words
from chunky.transcript.model import Word


def words(*specs: tuple[str, float, float], speaker: str | None = None) -> list[Word]:
    return [Word(t, a, b, 0.9, speaker) for t, a, b in specs]


WORDS = words(("one", 0.0, 0.4), ("two", 0.5, 0.9), ("three", 1.0, 1.5), ("four", 2.0, 2.4))


def test_spread_words_share_the_span_by_length_first_at_start_last_at_end():
    new = spread_words("ab abcd", 1.0, 2.0, "S1")
    # 2 + 1 (space) + 4 = 7 characters over one second
    assert [(w.text, w.start, w.end) for w in new] == [("ab", 1.0, round(1 + 2 / 7, 3)),
                                                      ("abcd", round(1 + 3 / 7, 3), 2.0)]
    assert all(w.speaker == "S1" and w.confidence is None for w in new)
    assert spread_words("  ", 0, 1) == []
    assert [(w.start, w.end) for w in spread_words("x", 3.0, 3.0)] == [(3.0, 3.0)]


def test_one_word_retyped_keeps_its_times_and_loses_its_confidence():
    done = apply_ops(WORDS, [{"op": "replace", "start": 1, "stop": 2, "text": "  Tue  "}])
    assert [w.text for w in done.words] == ["one", "Tue", "three", "four"]
    assert (done.words[1].start, done.words[1].end, done.words[1].confidence) == (0.5, 0.9, None)
    assert done.words[0] == WORDS[0] and done.words is not WORDS
    assert done.exact == [{"op": "set", "start": 1, "stop": 2, "words": [{"word": "Tue", "start": 0.5,
                                                                          "end": 0.9}]}]
    assert WORDS[1].text == "two"  # the input is not changed
    assert done.summary() == "1 word changed"


def test_several_words_replaced_by_more_words_spread_over_their_span():
    done = apply_ops(WORDS, [{"op": "replace", "start": 1, "stop": 3, "text": "to the tree"}])
    assert [w.text for w in done.words] == ["one", "to", "the", "tree", "four"]
    new = done.words[1:4]
    assert new[0].start == 0.5 and new[-1].end == 1.5
    assert all(a.end <= b.start for a, b in zip(new, new[1:], strict=False))
    assert done.changed == 3 and done.removed == 0


def test_an_empty_text_removes_the_words_and_set_puts_them_back():
    removed = apply_ops(WORDS, [{"op": "replace", "start": 1, "stop": 3, "text": ""}])
    assert [w.text for w in removed.words] == ["one", "four"] and removed.removed == 2
    assert removed.summary() == "2 removed"
    back = apply_ops(removed.words, [{"op": "set", "start": 1, "stop": 1,
                                      "words": [w.to_dict() for w in WORDS[1:3]]}])
    assert back.words == WORDS


def test_ops_run_in_order_on_the_list_as_it_is_then():
    done = apply_ops(WORDS, [{"op": "replace", "start": 0, "stop": 1, "text": "zero one"},
                             {"op": "replace", "start": 4, "stop": 5, "text": "for"}])
    assert [w.text for w in done.words] == ["zero", "one", "two", "three", "for"]


def test_speaker_rename_everywhere_or_in_ranges():
    ws = words(("a", 0, 1), ("b", 1, 2), speaker="S1") + words(("c", 2, 3), speaker="S2") \
        + words(("d", 3, 4), speaker="S1")
    assert speakers_of(ws) == ["S1", "S2"]
    renamed = apply_ops(ws, [{"op": "speaker", "from": "S1", "to": " Ada  Lovelace "}])
    assert [w.speaker for w in renamed.words] == ["Ada Lovelace", "Ada Lovelace", "S2", "Ada Lovelace"]
    merged = apply_ops(ws, [{"op": "speaker", "from": "S1", "to": "S2"}])
    assert speakers_of(merged.words) == ["S2"]
    # undoing a merge names the words that were S1
    undone = apply_ops(merged.words, [{"op": "speaker", "from": "S2", "to": "S1", "at": [[0, 2], [3, 4]]}])
    assert undone.words == ws


def test_restore_takes_another_revisions_words():
    other = words(("x", 0, 1))
    done = apply_ops(WORDS, [{"op": "restore", "revision": 0}], revision_words=lambda n: other)
    assert done.words == other and done.summary().startswith("restored revision 0")
    with pytest.raises(EditError, match="no revision 5"):
        apply_ops(WORDS, [{"op": "restore", "revision": 5}], revision_words=lambda n: {}[n])


def test_set_words_are_checked_and_kept_inside_the_recording():
    done = apply_ops(WORDS, [{"op": "set", "start": 3, "stop": 4,
                              "words": [{"word": "late", "start": 9.0, "end": 12.0, "confidence": 7}]}],
                     duration=10.0)
    w = done.words[-1]
    assert (w.text, w.start, w.end, w.confidence) == ("late", 9.0, 10.0, None)
    # times out of order are sorted back into time order
    shuffled = apply_ops(WORDS, [{"op": "set", "start": 0, "stop": 1,
                                  "words": [{"word": "one", "start": 1.7, "end": 1.8}]}])
    assert [w.text for w in shuffled.words] == ["two", "three", "one", "four"]


@pytest.mark.parametrize("op, message", [
    ({"op": "replace", "start": 2, "stop": 2, "text": "x"}, "at least one word"),
    ({"op": "replace", "start": 3, "stop": 1, "text": "x"}, "comes before"),
    ({"op": "replace", "start": 0, "stop": 9, "text": "x"}, "outside the transcript"),
    ({"op": "replace", "start": "0", "stop": 1, "text": "x"}, "whole number"),
    ({"op": "replace", "start": True, "stop": 1, "text": "x"}, "whole number"),
    ({"op": "replace", "start": 0, "stop": 1, "text": 5}, "text"),
    ({"op": "set", "start": 0, "stop": 1, "words": [{"word": " ", "start": 0, "end": 1}]}, "text"),
    ({"op": "set", "start": 0, "stop": 1, "words": [{"word": "a", "start": "nan", "end": 1}]}, "not numbers"),
    ({"op": "set", "start": 0, "stop": 1, "words": [{"word": "a"}]}, "no start"),
    ({"op": "set", "start": 0, "stop": 1, "words": "abc"}, "list"),
    ({"op": "speaker", "from": "S1", "to": "  "}, "cannot be empty"),
    ({"op": "speaker", "to": "B"}, "which speaker"),
    ({"op": "speaker", "from": "S1", "to": "x" * 81}, "at most"),
    ({"op": "speaker", "from": "S1", "to": "B", "at": [[0]]}, "ranges"),
    ({"op": "restore", "revision": -1}, "whole number"),
    ({"op": "rewrite"}, "unknown kind"),
    ("replace", "not an object"),
])
def test_bad_operations_are_refused(op, message):
    with pytest.raises(EditError, match=message):
        apply_ops(WORDS, [op], revision_words=lambda n: WORDS)


def test_too_many_operations_at_once():
    with pytest.raises(EditError, match="too many"):
        apply_ops(WORDS, [{"op": "speaker", "from": "a", "to": "b"}] * 10_001)
