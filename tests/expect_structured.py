"""Corpus expectations for structured and detector-framework families (see tests/corpus_expectations.py)."""

from __future__ import annotations

from tests.corpus_expectations import Expect, Series  # noqa: F401

STRUCTURED: dict = {}
