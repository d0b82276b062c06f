"""Where a 复查 or 复核 goes (信访工作条例 Art. 35, 36), as a pure rule.

Art. 35: a petitioner who does not accept a written reply may, within 30 days of
receiving it, ask the organ **one level above the organ that replied** to review it.
Art. 36: one who does not accept the review may, within 30 days, ask the organ one level
above the **reviewing** organ to re-review it; after that the matter is final.

:func:`route` answers: which organ (its level, its name, the region node whose officers
act on it) holds the request. The names come from the county policy's ``[dissatisfaction]``
table where it has one for that step; otherwise (no policy, or a step the policy format
cannot name, such as a 复核 after the city reviewed) the law's default is the people's
government of the place one level up, named from the region hierarchy. The windows
themselves are checked by the lifecycle (``grid.lifecycle``, ``grid.deadlines``).

Pure: the caller passes the places (codes and names of the case's township, county, city
and province) and the policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from grid.cases import HandlingLevel
from grid.lifecycle import ReviewHolder
from grid.policy import DissatisfactionPolicy, ReviewOrgan

Stage = Literal["review", "rereview"]

# The levels an organ can stand at, bottom up. A village committee is not an organ, but a
# reply issued while the village held the case is contested one level up, at the township.
ORGAN_LEVELS = ("village", "township", "county", "city", "province")
ORGAN_LEVEL_NAMES_ZH = {
    "village": "村（社区）",
    "township": "乡镇人民政府（街道办事处）",
    "county": "县级人民政府",
    "city": "市级人民政府",
    "province": "省级人民政府",
}
STAGE_NAMES_ZH = {"review": "复查", "rereview": "复核"}
CONTESTED_NAMES_ZH = {"review": "信访处理意见", "rereview": "复查意见"}
ARTICLES = {"review": "第三十五条", "rereview": "第三十六条"}

# Which policy entry names the organ at each level ([dissatisfaction.review.<key>]).
_POLICY_KEYS: Mapping[Stage, Mapping[str, ReviewOrgan]] = {
    "review": {"township": ReviewOrgan.TOWNSHIP, "county": ReviewOrgan.COUNTY, "city": ReviewOrgan.ABOVE_COUNTY},
    # The policy's rereview.above_county is the organ above a county that reviewed (the
    # city); above a city that reviewed, the province, which the format does not name.
    "rereview": {"county": ReviewOrgan.COUNTY, "city": ReviewOrgan.ABOVE_COUNTY},
}


@dataclass(frozen=True)
class Place:
    """A region on the case's path: the seat of the organ of its level."""

    code: str
    name: str


class NoOrganAbove(ValueError):
    """Nothing lies above the contested organ (a province's own review)."""


def organ_level_above(contested_level: str) -> str:
    index = ORGAN_LEVELS.index(contested_level)
    if index + 1 >= len(ORGAN_LEVELS):
        raise NoOrganAbove(f"no organ above {contested_level}")
    return ORGAN_LEVELS[index + 1]


def handling_level_of(organ_level: str) -> HandlingLevel:
    """The level of this deployment that acts for an organ: above the county, the county
    keeps the file and records the higher organ's acts."""
    if organ_level in ("village", "township"):
        return HandlingLevel(organ_level)
    return HandlingLevel.COUNTY


def contested_level_of_reply(case_level: HandlingLevel, replier_level: HandlingLevel | None) -> str:
    """The organ that issued a reply: the higher of the level holding the case and the level
    of whoever recorded it (a town officer may reply on a case still filed at the village)."""
    levels = list(HandlingLevel)
    level = case_level if replier_level is None else max(case_level, replier_level, key=levels.index)
    return level.value


def default_organ_name(organ_level: str, place: Place | None) -> str:
    """The people's government of the place: the organ Art. 35/36 mean when the county
    policy names none."""
    if place is None:
        return f"上一级机关（{ORGAN_LEVEL_NAMES_ZH[organ_level]}）"
    if organ_level == "township" and place.name.endswith("街道"):
        return f"{place.name}办事处"
    return f"{place.name}人民政府"


def _display(organ: str, place: Place | None) -> str:
    # A policy may name the organ generically ("案件所在镇（街道）人民政府"): say which one.
    if place is None or place.name in organ:
        return organ
    return f"{organ}（{place.name}）"


def route(
    stage: Stage,
    contested_level: str,
    places: Mapping[str, Place],
    dissatisfaction: DissatisfactionPolicy | None,
) -> ReviewHolder:
    """The organ that holds a 复查 (``stage="review"``) or 复核 (``"rereview"``).

    ``contested_level`` is the level of the organ whose decision is contested: the organ
    that replied (for a review) or that reviewed (for a re-review). ``places`` maps organ
    levels (township, county, city, province) to the case's regions. Raises
    :class:`NoOrganAbove` when no organ lies above (never the case within a county).
    """
    organ_level = organ_level_above(contested_level)
    place = places.get(organ_level)
    policy_key = _POLICY_KEYS[stage].get(organ_level)
    configured = None
    if dissatisfaction is not None and policy_key is not None:
        table = dissatisfaction.review if stage == "review" else dissatisfaction.rereview
        configured = table.get(policy_key)
    if configured is not None:
        organ, rule = configured.organ, configured.rule_id
    else:
        organ, rule = default_organ_name(organ_level, place), f"law.{stage}"
    level = handling_level_of(organ_level)
    node = places.get(level.value)
    contested_place = places.get(contested_level)
    contested = contested_place.name if contested_place else ORGAN_LEVEL_NAMES_ZH[contested_level]
    summary = (
        f"信访人不服{contested}的{CONTESTED_NAMES_ZH[stage]}，申请{STAGE_NAMES_ZH[stage]}；"
        f"依《信访工作条例》{ARTICLES[stage]}，由其上一级机关{_display(organ, place)}办理"
    )
    if organ_level in ("city", "province"):
        summary += "（该机关不在本系统内，案卷由县级保存并录入其意见）"
    return ReviewHolder(
        stage=stage,
        organ=organ,
        organ_level=organ_level,
        level=level,
        node_code=node.code if node else None,
        node_name=node.name if node else None,
        contested_level=contested_level,
        rule=rule,
        summary_zh=summary,
    )
