"""Fixtures shared by the training tests."""

import pytest

from ..conftest import DATA

WIKI = DATA / "text" / "wikitext2-test-raw.txt"


@pytest.fixture(scope="module")
def documents():
    """60 WikiText-2 paragraphs (headings dropped): a small masked-LM corpus."""
    lines = [line.strip() for line in WIKI.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("=")][:60]
