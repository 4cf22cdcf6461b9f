"""``python -m chunky vocabulary``: the saved vocabulary lists (one per show or client); and the checks
``transcribe`` makes before the first file (the language against the model, the vocabulary readable)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chunky.asr.capabilities import check_language, options_from_config, read_model_config
from chunky.asr.vocabulary import Vocabulary, VocabularyError, VocabularyLists, resolve
from chunky.bootstrap import paths
from chunky.settings import Settings


def preflight(settings: Settings, store, model_name: str, model_cache: Path) -> Vocabulary:
    """Check the language chosen for ``model_name`` against the model's own config, and read the
    vocabulary, before anything is transcribed (UnsupportedLanguageError / VocabularyError)."""
    language = settings.language_for(model_name)
    if language is not None:
        cfg = read_model_config(store.ensure_extracted(model_name))
        check_language(options_from_config(cfg, model_name), model_name, language)
    vocabulary = resolve(settings.vocabulary, VocabularyLists(model_cache))
    if settings.vocabulary and not vocabulary:
        raise VocabularyError(f"The vocabulary {settings.vocabulary!r} has no phrases.")
    for note in vocabulary.notes:
        print(f"vocabulary: {note}", file=sys.stderr)
    return vocabulary


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.add_parser("list", help="the saved lists")
    show = sub.add_parser("show", help="a saved list's phrases")
    show.add_argument("name")
    save = sub.add_parser("save", help="save a list from a file or from phrases (\"a, b:2, c\")")
    save.add_argument("name")
    save.add_argument("phrases", metavar="FILE|PHRASES")
    remove = sub.add_parser("remove", help="delete a saved list")
    remove.add_argument("name")


def run_vocabulary(args: argparse.Namespace) -> int:
    lists = VocabularyLists(paths().model_cache)
    action = getattr(args, "action", None) or "list"
    if action == "list":
        names = lists.names()
        if not names:
            print(f"No saved vocabulary lists (in {lists.folder}). Save one with: "
                  "python -m chunky vocabulary save NAME FILE")
        for name in names:
            print(f"{name}  ({len(lists.load(name).phrases)} phrases)")
        return 0
    if action == "show":
        for phrase in lists.load(args.name).phrases:
            print(phrase.text if phrase.strength == 1 else f"{phrase.text}\t{phrase.strength:g}")
        return 0
    if action == "save":
        vocabulary = resolve(args.phrases, None)
        path = lists.save(args.name, vocabulary)
        print(f"Saved {len(vocabulary.phrases)} phrases as {args.name!r} ({path}); use it with "
              f"--vocabulary {args.name!r}")
        for note in vocabulary.notes:
            print(f"  ({note})")
        return 0
    if not lists.remove(args.name):
        raise VocabularyError(f"No vocabulary list named {args.name!r}.")
    print(f"Removed the vocabulary list {args.name!r}")
    return 0
