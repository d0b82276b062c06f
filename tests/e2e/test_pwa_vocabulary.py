"""The PWA's vocabulary (Chinese names, which action each status and role allows) is a copy
of the domain's tables, generated from them: the app must decide offline what to offer.

Regenerate after a domain change: ``.venv/bin/python -m tests.e2e.test_pwa_vocabulary``.
"""

from __future__ import annotations

import json
from pathlib import Path

from grid.cases import CHANNEL_NAMES_ZH, HANDLING_LEVEL_NAMES_ZH, KIND_NAMES_ZH, RISK_NAMES_ZH
from grid.escalation import ENTRY_NAMES_ZH as ESCALATION_ENTRY_NAMES_ZH
from grid.extensions import ENTRY_NAMES_ZH as EXTENSION_ENTRY_NAMES_ZH
from grid.hierarchy import LEVEL_NAMES_ZH
from grid.lifecycle import (
    ACTION_NAMES_ZH,
    ALLOWED_FROM,
    CLOCK_NAMES_ZH,
    EVALUATION_NAMES_ZH,
    OUTCOME_NAMES_ZH,
    REASON_REQUIRED,
    ROUTE_NAMES_ZH,
    STATUS_NAMES_ZH,
)
from grid.people import READ_SCOPE_ACTIONS, ROLE_ACTIONS, ROLE_NAMES_ZH
from grid.recusals import ASSIGNMENT_NAMES_ZH
from grid.recusals import ENTRY_NAMES_ZH as RECUSAL_ENTRY_NAMES_ZH
from grid.repeats import ENTRY_NAMES_ZH as REPEAT_ENTRY_NAMES_ZH
from grid.supervision import ENTRY_NAMES_ZH as SUPERVISION_ENTRY_NAMES_ZH
from reports.statistics import BREAKDOWN_NAMES_ZH, COUNT_NAMES_ZH, RATE_NAMES_ZH

VOCABULARY_JS = Path(__file__).resolve().parents[2] / "pwa" / "src" / "lib" / "vocabulary.js"
# The statistics view is loaded on demand: its names stay out of the first load.
STATISTICS_JS = VOCABULARY_JS.with_name("statistics-names.js")


def _plain(mapping: dict) -> dict[str, object]:
    return {str(key): value for key, value in mapping.items()}


HEADER = [
    "// Generated from the domain tables by tests/e2e/test_pwa_vocabulary.py: do not edit.",
    "// Regenerate: .venv/bin/python -m tests.e2e.test_pwa_vocabulary",
]


def _module(tables: dict[str, object]) -> str:
    lines = list(HEADER)
    for name, value in tables.items():
        lines.append(f"export const {name} = {json.dumps(value, ensure_ascii=False, sort_keys=True)};")
    return "\n".join(lines) + "\n"


def render_statistics() -> str:
    return _module(
        {
            "RATE_NAMES": _plain(RATE_NAMES_ZH),
            "COUNT_NAMES": _plain(COUNT_NAMES_ZH),
            "BREAKDOWN_NAMES": _plain(BREAKDOWN_NAMES_ZH),
        }
    )


def render() -> str:
    entries = {
        "edit": "修改案件信息",
        "edit_held": "修改待审核",
        **_plain(SUPERVISION_ENTRY_NAMES_ZH),
        **_plain(EXTENSION_ENTRY_NAMES_ZH),
        **_plain(RECUSAL_ENTRY_NAMES_ZH),
        **_plain(ASSIGNMENT_NAMES_ZH),
        **_plain(REPEAT_ENTRY_NAMES_ZH),
        **_plain(ESCALATION_ENTRY_NAMES_ZH),
        **_plain(ACTION_NAMES_ZH),
    }
    tables = {
        "STATUS_NAMES": _plain(STATUS_NAMES_ZH),
        "ACTION_NAMES": _plain(ACTION_NAMES_ZH),
        "ENTRY_NAMES": entries,
        "KIND_NAMES": _plain(KIND_NAMES_ZH),
        "CHANNEL_NAMES": _plain(CHANNEL_NAMES_ZH),
        "RISK_NAMES": _plain(RISK_NAMES_ZH),
        "HANDLING_LEVEL_NAMES": _plain(HANDLING_LEVEL_NAMES_ZH),
        "REGION_LEVEL_NAMES": _plain(LEVEL_NAMES_ZH),
        "ROLE_NAMES": _plain(ROLE_NAMES_ZH),
        "ROUTE_NAMES": _plain(ROUTE_NAMES_ZH),
        "OUTCOME_NAMES": _plain(OUTCOME_NAMES_ZH),
        "EVALUATION_NAMES": _plain(EVALUATION_NAMES_ZH),
        "CLOCK_NAMES": _plain(CLOCK_NAMES_ZH),
        "ALLOWED_FROM": {str(action): sorted(str(s) for s in sources) for action, sources in ALLOWED_FROM.items()},
        "ROLE_ACTIONS": {str(role): sorted(actions) for role, actions in ROLE_ACTIONS.items()},
        "READ_SCOPE_ACTIONS": sorted(READ_SCOPE_ACTIONS),
        "REASON_REQUIRED": sorted(str(action) for action in REASON_REQUIRED),
    }
    return _module(tables)


def test_should_keep_the_apps_vocabulary_equal_to_the_domain_tables():
    assert VOCABULARY_JS.read_text(encoding="utf-8") == render(), (
        "pwa/src/lib/vocabulary.js is stale: run .venv/bin/python -m tests.e2e.test_pwa_vocabulary"
    )


def test_should_keep_the_statistics_names_equal_to_the_reports_tables():
    assert STATISTICS_JS.read_text(encoding="utf-8") == render_statistics(), (
        "pwa/src/lib/statistics-names.js is stale: run .venv/bin/python -m tests.e2e.test_pwa_vocabulary"
    )


if __name__ == "__main__":
    for path, text in ((VOCABULARY_JS, render()), (STATISTICS_JS, render_statistics())):
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
