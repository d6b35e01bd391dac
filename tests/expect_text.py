"""Corpus expectations for the text-log families (see tests/corpus_expectations.py)."""

from __future__ import annotations

from tests.corpus_expectations import Expect, Series  # noqa: F401

TEXT: dict = {}
