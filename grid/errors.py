"""Domain errors with stable codes.

The server maps each code to an HTTP status and an RFC 9457 problem document in one
place; the domain only says what went wrong, in words a grid worker can read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One broken rule of one input field, e.g. ``parties[0].id_number`` / ``id_number.checksum``."""

    field: str
    rule: str
    message: str


class DomainError(Exception):
    """A rule of the domain refused something. ``code`` is stable and documented."""

    code: str = "domain.error"

    def __init__(self, message: str, *, code: str | None = None, data: dict[str, Any] | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.data = data or {}


class InvalidInput(DomainError):
    """Input that breaks field rules; carries every broken rule, not just the first."""

    code = "validation.failed"

    def __init__(self, issues: list[Issue], message: str = "提交的内容有误，请按提示修改"):
        super().__init__(message, data={"errors": [issue.__dict__ for issue in issues]})
        self.issues = issues


@dataclass
class IssueCollector:
    """Collects issues across a whole payload so one answer names every bad field."""

    issues: list[Issue] = field(default_factory=list)

    def add(self, field_name: str, rule: str, message: str) -> None:
        self.issues.append(Issue(field_name, rule, message))

    def raise_if_any(self) -> None:
        if self.issues:
            raise InvalidInput(list(self.issues))
