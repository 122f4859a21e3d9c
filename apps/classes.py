"""Class labels from the command line: ImageNet ids or names (any WordNet synonym, any case).

A model with 1000 classes uses the ImageNet-1k vocabulary of rae_spec.imagenet; other models (trained
on other data) accept ids only, unless their preset names the classes. Unknown names suggest the
closest known ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from functools import lru_cache

from rae_spec.imagenet import NAMES as IMAGENET_NAMES
from rae_spec.imagenet import SYNSETS

from .errors import UserError


def normalize(name: str) -> str:
    """Case-, space- and separator-insensitive form of a class name."""
    return " ".join(name.replace("_", " ").replace("-", " ").casefold().split())


class ClassVocabulary:
    """Class ids 0..num_classes-1, optionally with names (each id may have several synonyms)."""

    def __init__(self, num_classes: int, names: Sequence[Sequence[str]] | None = None,
                 keys: Sequence[str] | None = None):
        if names is not None and len(names) != num_classes:
            raise ValueError(f"{len(names)} class names for {num_classes} classes")
        self.num_classes = num_classes
        self.names = tuple(tuple(n) for n in names) if names is not None else None
        self.keys = tuple(keys) if keys is not None else None  # e.g. WordNet synset ids, to tell homonyms apart
        self._index: dict[str, list[int]] = {}
        for i, synonyms in enumerate(self.names or ()):
            for name in synonyms:
                ids = self._index.setdefault(normalize(name), [])
                if i not in ids:
                    ids.append(i)

    def name(self, class_id: int) -> str:
        """The first (most common) name of a class, or its id as text."""
        return self.names[class_id][0] if self.names else str(class_id)

    def describe(self, class_id: int) -> str:
        if not self.names:
            return str(class_id)
        key = f"; {self.keys[class_id]}" if self.keys else ""
        return f"{class_id} ({', '.join(self.names[class_id])}{key})"

    def parse(self, text: str) -> int:
        """One class id from an id or a name; raises UserError with suggestions."""
        text = str(text).strip()
        if not text:
            raise UserError("a class is empty: give an id or a name")
        if text.lstrip("-").isdigit():
            class_id = int(text)
            if not 0 <= class_id < self.num_classes:
                raise UserError(f"class {class_id} is out of range: this model has classes 0-{self.num_classes - 1}")
            return class_id
        if not self.names:
            raise UserError(f"unknown class {text!r}: this model's classes are ids 0-{self.num_classes - 1} "
                            "and have no names")
        ids = self._index.get(normalize(text))
        if ids and len(ids) == 1:
            return ids[0]
        if not ids and "," in text:  # no class name holds a comma
            first, second = (part.strip() for part in text.split(",")[:2])
            raise UserError(f"unknown class {text!r}: give each class its own --class (--class {first!r} "
                            f"--class {second!r})")
        if ids:
            options = "; ".join(self.describe(i) for i in ids)
            raise UserError(f"class name {text!r} is ambiguous: {options}. Give the id instead")
        raise UserError(f"unknown class {text!r}{self._suggest(text)}")

    def parse_all(self, texts: Sequence[str]) -> list[int]:
        return [self.parse(t) for t in texts]

    def search(self, query: str) -> list[int]:
        """Ids whose names contain the query (normalized), in id order."""
        q = normalize(query)
        return [i for i, names in enumerate(self.names or ()) if any(q in normalize(n) for n in names)]

    def _suggest(self, text: str) -> str:
        q = normalize(text)
        close = difflib.get_close_matches(q, list(self._index), n=3, cutoff=0.6)
        if not close:
            close = [k for k in self._index if q in k][:3]
        if not close:
            return f"; {self.where_listed()}"
        shown = ", ".join(f"'{self._display(k)}' ({', '.join(map(str, self._index[k]))})" for k in close)
        return f"; did you mean {shown}?"

    def where_listed(self) -> str:
        """Where the user finds this model's class names."""
        if self.keys is not None:  # ImageNet
            return "see `rae classes` for the list"
        shown = ", ".join(self.name(i) for i in range(min(self.num_classes, 20)))
        return f"this model's classes are {shown}{', ...' if self.num_classes > 20 else ''}"

    def _display(self, key: str) -> str:
        i = self._index[key][0]
        return next(n for n in self.names[i] if normalize(n) == key)


@lru_cache(maxsize=1)
def imagenet() -> ClassVocabulary:
    return ClassVocabulary(len(IMAGENET_NAMES), IMAGENET_NAMES, SYNSETS)


def vocabulary(num_classes: int, names: Sequence[Sequence[str]] | None = None) -> ClassVocabulary:
    """The vocabulary of a model with `num_classes` classes: ImageNet names for 1000 classes."""
    if names is not None:
        return ClassVocabulary(num_classes, names)
    if num_classes == len(IMAGENET_NAMES):
        return imagenet()
    return ClassVocabulary(num_classes)
