"""Valid request bodies to start from; tests change one thing and look at the answer."""

from __future__ import annotations

import uuid
from typing import Any

from grid.identity import check_character


def id_number(birth: str = "19800101", order: str = "123", area: str = "611026") -> str:
    first17 = f"{area}{birth}{order}"
    return first17 + check_character(first17)


def party(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "王建国",
        "role": "applicant",
        "id_number": id_number(),
        "phone": "+86 138 1234 5678",
        "address": "柞水县乾佑街道仁和社区12号",
    }
    body.update(overrides)
    return body


def case_payload(grid_code: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "kind": "civil_dispute",
        "category": "neighbourhood",
        "channel": "door_to_door",
        "title": "邻里排水沟纠纷",
        "request": "要求对方疏通排水沟",
        "facts": "雨水漫入菜地",
        "risk": "low",
        "location": {"latitude": 33.68, "longitude": 109.11},
        "parties": [party(), party(name="李秀英", role="respondent", id_number=id_number("19750505", "246"))],
    }
    if grid_code is not None:
        body["grid_code"] = grid_code
    body.update(overrides)
    return body


async def fresh_headers(client, *names: str) -> dict[str, dict[str, str]]:
    """Log in again (after the clock moved past the seeded tokens' lifetime)."""
    from tests.conftest import TEST_PASSWORD

    headers = {}
    for name in names:
        answer = await client.post("/auth/login", json={"username": name, "password": TEST_PASSWORD})
        assert answer.status_code == 201, answer.text
        headers[name] = {"Authorization": f"Bearer {answer.json()['token']}"}
    return headers
