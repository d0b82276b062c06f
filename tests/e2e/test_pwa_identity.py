"""The app checks ID numbers and phones as the server does: the JavaScript port
(pwa/src/lib/identity.js, run by Node) and grid/identity.py give the same verdict, the same
rule and the same normalised value on the same inputs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grid.identity import IdentityRuleError, normalize_phone, parse_resident_id
from tests.factories import id_number

IDENTITY_JS = Path(__file__).resolve().parents[2] / "pwa" / "src" / "lib" / "identity.js"
NODE = shutil.which("node")

RUNNER = """
import { createInterface } from "node:readline";
import { parseResidentId, normalizePhone } from %s;
const verdict = (fn) => {
  try { return { ok: fn() }; }
  catch (e) { if (e.rule) return { rule: e.rule, message: e.message }; throw e; }
};
const id = (raw, reason) => {
  const r = parseResidentId(raw, reason);
  return [r.value, r.status, r.birthDate, r.sex, r.unknownReason];
};
const phone = (raw) => { const r = normalizePhone(raw); return [r.kind, r.number]; };
const judge = ([kind, raw, reason]) => verdict(() => (kind === "id" ? id(raw, reason) : phone(raw)));
for await (const line of createInterface({ input: process.stdin })) {
  process.stdout.write(JSON.stringify(JSON.parse(line).map(judge)) + "\\n");
}
"""


class JsJudge:
    """One Node process for every example: a process per example would make hypothesis
    shrink for minutes."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [NODE, "--input-type=module", "-e", RUNNER % json.dumps(IDENTITY_JS.as_uri())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def __call__(self, inputs: list[tuple[str, str | None, str | None]]) -> list[dict]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(inputs) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def run_js():
    # A failure, not a skip: without Node the check would pass unseen (`make setup` installs it).
    if NODE is None:
        pytest.fail("Node is needed to run the app's code: run `make setup`")
    judge = JsJudge()
    yield judge
    judge.close()


def run_python(kind: str, raw: str | None, reason: str | None) -> dict:
    try:
        if kind == "id":
            parsed = parse_resident_id(raw, unknown_reason=reason)
            born = parsed.birth_date.isoformat() if parsed.birth_date else None
            return {"ok": [parsed.value, parsed.status.value, born, parsed.sex, parsed.unknown_reason]}
        phone = normalize_phone(raw or "")
        return {"ok": [phone.kind.value, phone.number]}
    except IdentityRuleError as error:
        return {"rule": error.rule, "message": error.message}


KNOWN = [
    ("id", id_number(), None),
    ("id", id_number().lower(), None),
    ("id", "11010519491231002X", None),
    ("id", "11010519491231002x", None),
    ("id", "１１０１０５１９４９１２３１００２Ｘ", None),
    ("id", " 110105 1949 1231 002X ", None),
    ("id", "110105194912310021", None),
    ("id", "010105194912310021", None),
    ("id", "110105194902300021", None),
    ("id", "110105189912310021", None),
    ("id", "110105491231002", None),
    ("id", "110105490230002", None),
    ("id", "11010549123100A", None),
    ("id", "1101051949", None),
    ("id", "", None),
    ("id", None, "未带证件"),
    ("id", "", "  "),
    ("id", "\u3000", "老人记不清"),
    ("id", "\ufeff11010519491231002X", None),
    ("id", "11010519491231002X\x1c", None),
    ("phone", "13812345678", None),
    ("phone", "+86 138 1234 5678", None),
    ("phone", "0086-138-1234-5678", None),
    ("phone", "8613812345678", None),
    ("phone", "0914-4321234", None),
    ("phone", "09144321234", None),
    ("phone", "(029) 8765 4321", None),
    ("phone", "010-12345678", None),
    ("phone", "+86 914 4321234", None),
    ("phone", "１３８１２３４５６７８", None),
    ("phone", "12812345678", None),
    ("phone", "138123456789", None),
    ("phone", "0914－432–1234", None),
    ("phone", "", None),
    ("phone", "   ", None),
    ("phone", "138 1234 567８", None),
    ("phone", "٠١٣٨١٢٣٤٥٦٧", None),
]


def test_should_judge_known_id_numbers_and_phones_as_the_server_does(run_js):
    assert run_js(KNOWN) == [run_python(*item) for item in KNOWN]


ID_ALPHABET = st.sampled_from([*"0123456789Xx １２３４５６７８９０Ｘ\u3000\t-", "\ufeff", "\x1c", "\x85"])
PHONE_ALPHABET = st.sampled_from([*"0123456789+-() （）－\u2013\u2212１３８", "\u3000", "\x85", "\ufeff"])


@st.composite
def near_valid_ids(draw) -> str:
    born = draw(st.dates())
    birth = f"{born.year:04d}{born.month:02d}{born.day:02d}"
    text = id_number(birth=birth, order=draw(st.from_regex(r"[0-9]{3}", fullmatch=True)))
    if draw(st.booleans()):
        position = draw(st.integers(0, 17))
        text = text[:position] + draw(ID_ALPHABET) + text[position + 1 :]
    return text


@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("id"), st.text(ID_ALPHABET, max_size=20), st.none()),
            st.tuples(st.just("id"), near_valid_ids(), st.none()),
            st.tuples(st.just("id"), st.just(""), st.text(max_size=4)),
            st.tuples(st.just("phone"), st.text(PHONE_ALPHABET, max_size=18), st.none()),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_should_judge_generated_inputs_as_the_server_does(run_js, inputs):
    assert run_js(inputs) == [run_python(*item) for item in inputs]
