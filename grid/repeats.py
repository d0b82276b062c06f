"""Repeat petitions: finality, duplicates and 越级 at intake (pure rules and their tables).

- **Finality** (信访工作条例 Art. 36 ¶3): once a matter has been re-reviewed (复核), a
  petition by the same person on the same facts and reasons is not accepted again by any
  organ. Registering one is refused (``case.final``), naming the final case.
- **Duplicates** (Art. 19 ¶3): a petition on a matter that is being handled, or has been
  handled, at any level is not a new matter. It is still registered (the receipt is a
  fact), but linked to the original (``duplicate_of``) so the organ merges it instead of
  handling it twice; it counts for 重复访率.
- **越级** (Art. 20 ¶1): a visit goes to the competent organ of the same level or one
  level up. A petition registered two or more levels above where the matter stands is
  recorded as 越级 and counted; handing it down (``refer_down``) needs a reason.

"Same petitioner": an applicant of both cases has the same resident ID number (compared
by keyed blind index, a 15-digit legacy number equal to its 18-digit form), or the same
name and the same phone number. "Same matter": the same dispute category and a similar
statement of the matter (title and request), by :func:`similarity`. The search covers the
whole county, every level and village. docs/case-lifecycle.md has the reasoning.

Pure: the service finds the candidates and passes them in as :class:`Prior` values.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from grid.calendar import local_date
from grid.cases import HANDLING_LEVEL_NAMES_ZH, HandlingLevel, Kind, Risk
from grid.identity import check_character
from grid.lifecycle import STATUS_NAMES_ZH, CaseFacts, Status
from grid.policy import Condition, Policy
from grid.storage_types import UTCDateTime

# Character-bigram Jaccard of the normalised title + request. Measured on paired
# statements of real dispute kinds (tests/grid/test_repeats.py): the same matter restated
# with a detail added scores 0.55-0.75, different matters of one category 0-0.1, the same
# matter retold in other words 0.1-0.25 (missed: the rule is deliberately simple and
# deterministic, and a missed duplicate costs double work, never a refused petition).
DUPLICATE_THRESHOLD = 0.3
# Refusing takes away the right to be heard, so it needs the statement to be close: a
# petitioner who brings new facts and reasons writes a different statement.
FINAL_THRESHOLD = 0.5

# Words that say "please" rather than what the matter is; left in, every pair of requests
# would share 要求 / 请求 and look alike.
FILLER_WORDS = (
    "要求",
    "请求",
    "希望",
    "恳请",
    "申请",
    "反映",
    "强烈",
    "尽快",
    "依法",
    "予以",
    "给予",
    "处理",
    "解决",
    "问题",
    "事项",
    "有关",
    "相关",
    "帮助",
    "协调",
    "纠纷",
    "争议",
    "我们",
    "本人",
    "对方",
)

DUPLICATE_ENTRY = "duplicate"
SKIP_LEVEL_ENTRY = "skip_level"
ENTRY_NAMES_ZH = {DUPLICATE_ENTRY: "重复信访（关联原案）", SKIP_LEVEL_ENTRY: "越级信访"}
BASIS_NAMES_ZH = {"id_number": "身份证号相同", "name_phone": "姓名和联系电话相同"}


# ---------------------------------------------------------------- same matter


def normalize_matter(text: str) -> str:
    """Width- and case-folded letters, digits and CJK only. Spaces are dropped (typed at
    random inside Chinese text); punctuation and filler words become breaks."""
    folded = "".join(unicodedata.normalize("NFKC", text).lower().split())
    kept = "".join(char if char.isalnum() else " " for char in folded)
    for word in FILLER_WORDS:
        kept = kept.replace(word, " ")
    return " ".join(kept.split())


@lru_cache(maxsize=4096)
def matter_grams(title: str, request: str) -> frozenset[str]:
    """Character bigrams of the statement, never across a break; a lone character counts."""
    grams: set[str] = set()
    for part in normalize_matter(f"{title} {request}").split():
        if len(part) == 1:
            grams.add(part)
        grams.update(part[index : index + 2] for index in range(len(part) - 1))
    return frozenset(grams)


def similarity(first: frozenset[str], second: frozenset[str]) -> float:
    """Jaccard index of two bigram sets (0 when both are empty)."""
    union = first | second
    return len(first & second) / len(union) if union else 0.0


# ---------------------------------------------------------------- same petitioner


def resident_id_forms(value: str) -> tuple[str, ...]:
    """The stored forms a resident ID number may have: itself and its 15/18-digit twin.

    GB 11643: an 18-digit number is the 15-digit one with the century "19" inserted after
    the area code and a check character appended.
    """
    if len(value) == 15:
        first17 = f"{value[:6]}19{value[6:]}"
        return value, first17 + check_character(first17)
    if len(value) == 18 and value[6:8] == "19":
        return value, value[:6] + value[8:17]
    return (value,)


def name_key(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).split())


# ---------------------------------------------------------------- the verdict


@dataclass(frozen=True)
class Prior:
    """An earlier case of the same petitioner and category, as the intake rule sees it."""

    case_id: uuid.UUID
    number: str | None
    status: Status
    level: HandlingLevel
    registered_at: datetime
    basis: str  # "id_number" or "name_phone"
    similarity: float
    # Re-reviewed (复核): the matter is final, whether or not the case was closed since.
    final_on: date | None
    duplicate_of: uuid.UUID | None
    place_name: str | None = None

    @property
    def final(self) -> bool:
        return self.final_on is not None

    @property
    def open(self) -> bool:
        """Still being handled somewhere: a duplicate of it must be merged, not handled twice."""
        return self.status not in (Status.CLOSED, Status.NOT_ACCEPTED, Status.FINAL) and not self.final


def final_on(facts: CaseFacts | Mapping[str, Any]) -> date | None:
    """The day (in China) the 复核 opinion was delivered, when the case reached it.

    Takes the facts or their stored JSON (intake reads many earlier cases and needs only this).
    """
    if isinstance(facts, CaseFacts):
        delivered = facts.rereview_delivered_at
    else:
        raw = facts.get("rereview_delivered_at")
        delivered = datetime.fromisoformat(raw) if raw else None
    return local_date(delivered) if delivered is not None else None


@dataclass(frozen=True)
class Verdict:
    final: Prior | None = None  # refuse: the matter is final
    original: Prior | None = None  # link as a duplicate of this case
    matched: Prior | None = None  # the case the match was found on (the original or one of its duplicates)
    # The highest level the matter reached before (for 越级); None when never raised.
    earlier_level: HandlingLevel | None = None


def assess(priors: Iterable[Prior], originals: Mapping[uuid.UUID, Prior]) -> Verdict:
    """Decide what an intake is, given earlier cases of the same petitioner and category.

    ``originals`` holds the original (root) case of every prior that is itself a
    duplicate, so a new duplicate links to the first case of the matter, not to a copy.
    """
    priors = list(priors)
    finals = [prior for prior in priors if prior.final and prior.similarity >= FINAL_THRESHOLD]
    if finals:
        return Verdict(final=min(finals, key=lambda prior: (-prior.similarity, prior.registered_at)))
    matches = [prior for prior in priors if prior.similarity >= DUPLICATE_THRESHOLD]
    if not matches:
        return Verdict()
    # An open case first (that is where the work is), then the closest statement, then the oldest.
    matched = min(matches, key=lambda prior: (not prior.open, -prior.similarity, prior.registered_at))
    original = originals.get(matched.duplicate_of, matched) if matched.duplicate_of else matched
    levels = [prior.level for prior in matches] + [
        originals[p.duplicate_of].level for p in matches if p.duplicate_of in originals
    ]
    order = list(HandlingLevel)
    return Verdict(original=original, matched=matched, earlier_level=max(levels, key=order.index))


def final_message(prior: Prior) -> str:
    number = f"案件编号{prior.number}" if prior.number else f"{prior.registered_at.date().isoformat()}登记的案件"
    delivered = f"，复核意见于{prior.final_on.isoformat()}送达" if prior.final_on else ""
    return (
        f"该信访人就同一事项的信访已经复核终结（{number}{delivered}），"
        "依《信访工作条例》第三十六条，同一事实和理由的信访不再受理；如有新的事实和理由，请在登记时写明"
    )


def duplicate_summary(original: Prior, matched: Prior) -> str:
    reference = (
        f"案件{original.number}"
        if original.number
        else f"{original.registered_at.date().isoformat()}登记、尚未受理的案件"
    )
    where = f"，{original.place_name}" if original.place_name else ""
    state = "正在办理，请并入原案办理，勿重复办理" if original.open else "已办理"
    return (
        f"同一信访人（{BASIS_NAMES_ZH[matched.basis]}）就同一事项已有{reference}"
        f"（{STATUS_NAMES_ZH[original.status]}{where}），本件作为重复信访登记并关联原案；原案{state}"
        "（《信访工作条例》第十九条第三款）"
    )


# ---------------------------------------------------------------- 越级


def conditions_of(
    *, risk: Risk, is_collective: bool, violence_risk: bool, cadres_involved: bool, multi_village: bool
) -> frozenset[Condition]:
    flags = {
        Condition.HIGH_RISK: risk is Risk.HIGH,
        Condition.COLLECTIVE: is_collective,
        Condition.VIOLENCE_RISK: violence_risk,
        Condition.CADRES_INVOLVED: cadres_involved,
        Condition.MULTI_VILLAGE: multi_village,
    }
    return frozenset(condition for condition, present in flags.items() if present)


def entry_level(policy: Policy | None, conditions: Iterable[Condition]) -> tuple[HandlingLevel, str]:
    """Where a matter should first be handled, and the rule that says so.

    小事不出村: the village, unless a risk trigger of the county policy sends such a case
    higher at once (e.g. a collective case to the township): then that level.
    """
    level, rule = HandlingLevel.VILLAGE, "default.village"
    order = list(HandlingLevel)
    present = set(conditions)
    for trigger in policy.risk if policy is not None else ():
        if trigger.condition in present and order.index(trigger.to_level) > order.index(level):
            level, rule = trigger.to_level, trigger.rule_id
    return level, rule


@dataclass(frozen=True)
class SkipLevel:
    registered_level: HandlingLevel
    expected_level: HandlingLevel  # where the matter stands: its entry level or the highest it reached
    rule: str
    summary_zh: str


def skip_level(
    *,
    kind: Kind,
    registered_level: HandlingLevel,
    entry: tuple[HandlingLevel, str],
    earlier_level: HandlingLevel | None,
) -> SkipLevel | None:
    """越级 when registered two or more levels above where the matter stands (Art. 20 ¶1:
    the same level or one up is in procedure).

    The matter stands at its entry level, or higher when an earlier case of it already
    reached a higher level. Accusations (检举控告) are left out: they go to discipline
    organs, and an accuser may keep away from the level accused (Art. 30).
    """
    if kind is Kind.ACCUSATION:
        return None
    order = list(HandlingLevel)
    level, rule = entry
    if earlier_level is not None and order.index(earlier_level) > order.index(level):
        level, rule = earlier_level, "earlier_case"
    if order.index(registered_level) - order.index(level) < 2:
        return None
    skipped = "、".join(
        HANDLING_LEVEL_NAMES_ZH[item] for item in order[order.index(level) + 1 : order.index(registered_level)]
    )
    stands = "已在" if rule == "earlier_case" else "应由"
    summary = (
        f"该事项{stands}{HANDLING_LEVEL_NAMES_ZH[level]}处理，信访人未经{skipped}直接到{HANDLING_LEVEL_NAMES_ZH[registered_level]}提出，"
        "属越级信访（《信访工作条例》第二十条第一款：应向有权处理的本级或者上一级机关提出）；"
        "如交由下级办理，须说明理由"
    )
    return SkipLevel(registered_level, level, rule, summary)


# ---------------------------------------------------------------- tables


class CaseDuplicate(SQLModel, table=True):
    """A case registered on a matter already raised by the same petitioner (Art. 19 ¶3)."""

    __tablename__ = "case_duplicate"

    case_id: uuid.UUID = Field(primary_key=True, foreign_key="case_file.id")
    # The first case of the matter; every later duplicate points at it.
    original_id: uuid.UUID = Field(foreign_key="case_file.id", index=True)
    # The case whose statement matched (the original, or another duplicate of it).
    matched_id: uuid.UUID = Field(foreign_key="case_file.id")
    basis: str = Field(max_length=16)
    similarity: float
    original_status: str = Field(max_length=32)
    original_open: bool
    detected_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CaseSkipLevel(SQLModel, table=True):
    """A petition registered two or more levels above where its matter stands (Art. 20 ¶1)."""

    __tablename__ = "case_skip_level"

    case_id: uuid.UUID = Field(primary_key=True, foreign_key="case_file.id")
    registered_level: str = Field(max_length=16)
    expected_level: str = Field(max_length=16)
    rule: str = Field(max_length=100)
    channel: str = Field(max_length=20)
    detected_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
