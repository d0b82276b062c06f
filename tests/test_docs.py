"""The docs name every status, action and error code the code has."""

from pathlib import Path

from grid.lifecycle import Action, Status
from server.errors import STATUS_BY_CODE

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_lifecycle_doc_lists_every_status_and_action():
    text = (DOCS / "case-lifecycle.md").read_text(encoding="utf-8")
    missing = [f"`{item.value}`" for item in [*Status, *Action] if f"`{item.value}`" not in text]
    assert missing == []


def test_the_api_doc_lists_every_error_code_with_a_special_status():
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    assert [code for code in STATUS_BY_CODE if f"`{code}`" not in text] == []
