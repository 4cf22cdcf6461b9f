"""Vocabulary lists (pure): the forms a list takes, strengths, saved lists, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from chunky.asr.vocabulary import (
    MAX_PHRASES,
    Phrase,
    Vocabulary,
    VocabularyError,
    VocabularyLists,
    parse_phrases,
    parse_strength,
    resolve,
    spellable,
    to_text,
)


def test_one_phrase_a_line_with_strengths_comments_and_repeats() -> None:
    v = parse_phrases("Siobhan\nLlanelli:2\nDaVinci   Resolve\t1.5\n# a comment\n\nsiobhan:3\nC#\nmuted:0\n")
    assert v.phrases == (Phrase("Siobhan", 3.0), Phrase("Llanelli", 2.0), Phrase("DaVinci Resolve", 1.5),
                         Phrase("C#", 1.0))


def test_inline_phrases_split_on_commas() -> None:
    v = resolve("Siobhan, Llanelli:2 ,  , DaVinci Resolve")
    assert v.texts == ["Siobhan", "Llanelli", "DaVinci Resolve"] and v.phrases[1].strength == 2


def test_empty_is_no_vocabulary_and_a_bad_strength_says_where() -> None:
    assert not resolve("") and not resolve(None) and not resolve(" ,, ")
    with pytest.raises(VocabularyError, match="line 2: the strength of 'b' must be between 0 and 10, not 11"):
        parse_phrases("a\nb:11")


def test_ten_thousand_lines_are_refused_with_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("\n".join(f"name{i}" for i in range(10_000)), "utf-8")
    with pytest.raises(VocabularyError, match=f"more than {MAX_PHRASES} phrases"):
        resolve(str(big))
    ok = tmp_path / "ok.txt"
    ok.write_text("\n".join(f"name{i}" for i in range(MAX_PHRASES)), "utf-8")
    assert len(resolve(str(ok)).phrases) == MAX_PHRASES


def test_a_long_phrase_is_left_out_with_a_note() -> None:
    v = parse_phrases("ok\n" + "x" * 200)
    assert v.texts == ["ok"] and "line 2: longer than 100" in v.notes[0]


def test_files_lists_and_missing_ones(tmp_path: Path) -> None:
    f = tmp_path / "names.txt"
    f.write_bytes("\ufeffZoë\nKrakatoa:2\n".encode())  # a BOM from Notepad
    assert resolve(str(f)).texts == ["Zoë", "Krakatoa"]
    with pytest.raises(VocabularyError, match="does not exist"):
        resolve(str(tmp_path / "gone.txt"))
    lists = VocabularyLists(tmp_path / "cache")
    assert lists.names() == []
    lists.save("Show 42", resolve(str(f)))
    assert lists.names() == ["Show 42"]
    assert resolve("Show 42", lists).phrases == resolve(str(f)).phrases
    assert parse_phrases(to_text(lists.load("Show 42"))).phrases == lists.load("Show 42").phrases
    assert resolve("Show 43", lists).texts == ["Show 43"]  # not a list: a phrase
    with pytest.raises(VocabularyError, match="No vocabulary list named 'nope'"):
        lists.load("nope")
    with pytest.raises(VocabularyError, match="cannot name"):
        lists.save("../evil", resolve("a"))
    with pytest.raises(VocabularyError, match="empty"):
        lists.save("empty", Vocabulary())
    assert lists.remove("Show 42") and not lists.remove("Show 42")
    assert not list((tmp_path / "cache" / "vocabularies").glob("*.partial"))


def test_phrases_the_model_cannot_spell_are_named_and_the_rest_kept() -> None:
    v = resolve("seven, Zoë, naïve café, nine")
    kept, notes = spellable(v, list(" abcdefghijklmnopqrstuvwxyz'"))
    assert kept.texts == ["seven", "nine"]
    assert notes == ["'Zoë' left out: the model cannot write 'ë'", "'naïve café' left out: the model cannot "
                     "write 'é' 'ï'"]
    assert spellable(v, None) == (v, [])


def test_strength_setting() -> None:
    assert parse_strength("1.5") == 1.5
    for bad in ("0", "-1", "11", "x"):
        with pytest.raises(ValueError):
            parse_strength(bad)
