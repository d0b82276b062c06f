"""The demo county: real 柞水县 divisions, grids, one user per role and place, and cases in
every state and deadline light, dated relative to ``now``.

Cases are made through the same services as the API, each step at its own past instant,
so their timelines and clocks are exactly what real use would have produced.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from grid.cases import Channel, Kind, PartyKind, PartyRole, Risk
from grid.hierarchy import Level, Region, parse_division_csv
from grid.identity import check_character
from grid.lifecycle import Action
from grid.people import Role, User
from server.clock import FixedClock
from server.principal import Principal
from server.schemas.cases import CaseCreate, CaseFlags, Location, PartyCreate, TransitionRequest
from server.schemas.oversight import ExtensionDecision, ExtensionRequestCreate
from server.security import hash_password
from server.services.cases import CaseService
from server.services.categories import CategoryService
from server.services.context import ServiceContext
from server.services.extensions import ExtensionService
from server.services.organs import OrganService
from server.services.regions import RegionService
from server.services.users import UserService, principal_of
from server.settings import PROJECT_ROOT

DEMO_PASSWORD = "fengqiao-demo"
DEMO_DIVISIONS = PROJECT_ROOT.parent / "shared" / "data" / "divisions" / "zhashui.csv"
COUNTY_CODE = "611026000000"

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
    "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史"
    "顾侯邵孟龙万段漕钱汤尹黎易常武乔贺赖龚文"
)
GIVEN = [
    "建国",
    "秀英",
    "桂兰",
    "志强",
    "红梅",
    "海燕",
    "明",
    "伟",
    "芳",
    "军",
    "丽",
    "勇",
    "敏",
    "静",
    "强",
    "磊",
    "洋",
    "艳",
    "杰",
    "娟",
    "涛",
    "超",
    "霞",
    "平",
    "刚",
    "玉兰",
    "德胜",
    "长林",
    "满仓",
    "春花",
    "堃",
    "喆",
]
GRID_NAMES = ["第一网格", "第二网格", "第三网格"]

DISPUTES = [
    (
        "neighbourhood",
        "邻里因排水沟堵塞发生争执",
        "要求对方疏通排水沟并赔偿被淹的菜地损失",
        "连续降雨后排水沟被堵，雨水漫入申请人菜地。",
    ),
    ("homestead", "宅基地边界纠纷", "请求村委会重新确认两户宅基地界址", "两户翻修房屋时对院墙位置各执一词。"),
    ("land_forest", "山林承包界线争议", "请求依据林权证确认承包界线", "双方对山林承包界线的理解不一致，发生砍伐争议。"),
    (
        "marriage_family",
        "赡养老人费用分担纠纷",
        "要求兄弟三人按月分担母亲的赡养费用",
        "老人年迈多病，子女对赡养费分担有分歧。",
    ),
    ("wage_arrears", "农民工工资拖欠", "请求督促包工头支付拖欠的工资", "在镇上建筑工地务工三个月，工资一直未结清。"),
    ("contract", "土地流转合同租金纠纷", "要求合作社按合同支付土地流转租金", "合作社以收成不好为由拖欠当年租金。"),
    ("damages", "饲养的牛损坏庄稼", "要求对方赔偿被毁玉米的损失", "对方的牛闯入申请人玉米地，毁坏约半亩庄稼。"),
    (
        "land_acquisition",
        "修路占地补偿异议",
        "请求复核修路占地面积并足额补偿",
        "村道拓宽占用承包地，对丈量面积和补偿标准有异议。",
    ),
    ("pollution", "养殖场异味污染", "要求养殖场整改粪污处理设施", "村口养猪场粪污直排，夏季异味严重。"),
    ("traffic", "农用车剐蹭赔偿", "要求对方赔偿三轮车修理费", "村道会车时发生剐蹭，双方对责任有争议。"),
    ("property_management", "小区物业收费争议", "要求物业公司公开收费明细", "安置小区物业费上涨，居民要求说明依据。"),
    ("medical", "卫生室诊疗纠纷", "要求卫生室说明用药情况并承担部分费用", "村卫生室输液后出现不良反应。"),
    ("other", "公共水源使用纠纷", "请求村委会协调公共水井的使用时间", "旱季两个村民小组争用同一水源。"),
]


@dataclass
class DemoPlace:
    village: Region
    township: Region
    grids: list[Region]


@dataclass
class DemoPeople:
    county_officer: Principal
    admin: Principal
    town_officers: dict[str, Principal]
    village_leaders: dict[str, Principal]
    mediators: dict[str, Principal]
    grid_workers: dict[str, Principal]
    # The designated head of each organ (township and county codes): approves extensions.
    organ_heads: dict[str, Principal]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    place: str


async def database_is_empty(context: ServiceContext) -> bool:
    async with context.db.read() as session:
        return int((await session.exec(select(func.count()).select_from(User))).one()) == 0


def _person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def _id_number(rng: random.Random, now: datetime) -> str:
    birth = now.date() - timedelta(days=rng.randint(20 * 365, 80 * 365))
    first17 = f"611026{birth:%Y%m%d}{rng.randint(0, 999):03d}"
    return first17 + check_character(first17)


def _mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3578')}{rng.randint(0, 999999999):09d}"


async def seed_demo(
    context: ServiceContext,
    *,
    divisions: Path = DEMO_DIVISIONS,
    case_count: int = 300,
    seed: int = 2026,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[DemoLogin]:
    """Seed 柞水县. Call on an empty database (``fengqiao demo`` checks)."""
    rng = random.Random(seed)
    now = context.clock.now()
    regions = RegionService(context)
    division_text = await asyncio.to_thread(divisions.read_text, encoding="utf-8")
    await regions.import_divisions(parse_division_csv(division_text), valid_from_year=2023)
    await CategoryService(context).ensure_default()
    county = await regions.get(COUNTY_CODE)
    townships = {region.code: region for region in await regions.subtree(county.path, level=Level.TOWNSHIP)}
    places: list[DemoPlace] = []
    for village in await regions.subtree(county.path, level=Level.VILLAGE):
        existing = await regions.subtree(village.path, level=Level.GRID)
        grids = list(existing)
        system = Principal(uuid.uuid4(), "seed", "seed", Role.ADMIN, county.code, county.path)
        for name in GRID_NAMES[len(grids) : rng.randint(2, 3)]:
            grids.append(await regions.create_grid(system, village.code, name))
        places.append(DemoPlace(village, townships[str(village.parent_code)], grids))
    people, logins = await _seed_users(context, county, townships, places, rng, progress)
    await _seed_cases(context, people, places, rng, now, case_count, progress)
    return logins


async def _seed_users(context, county, townships, places, rng, progress):
    users = UserService(context)
    # One argon2 hash for every demo account: hashing hundreds of passwords one by one
    # would add a minute to `make run` for no security gain on demo data.
    password_hash = hash_password(DEMO_PASSWORD)

    async def make(username: str, role: Role, node: Region) -> Principal:
        user = await users.create(
            username=username,
            display_name=_person_name(rng),
            role=role,
            node_code=node.code,
            password_hash=password_hash,
        )
        return principal_of(user)

    admin = await make("admin", Role.ADMIN, county)
    county_officer = await make("county", Role.COUNTY_OFFICER, county)
    town_officers = {
        code: await make(f"town-{code[6:9]}", Role.TOWN_OFFICER, region) for code, region in townships.items()
    }
    village_leaders: dict[str, Principal] = {}
    mediators: dict[str, Principal] = {}
    grid_workers: dict[str, Principal] = {}
    for index, place in enumerate(places, start=1):
        suffix = place.village.code[6:]
        village_leaders[place.village.code] = await make(f"leader-{suffix}", Role.VILLAGE_LEADER, place.village)
        mediators[place.village.code] = await make(f"mediator-{suffix}", Role.VILLAGE_MEDIATOR, place.village)
        for grid in place.grids:
            grid_workers[grid.code] = await make(f"grid-{grid.code[6:]}", Role.GRID_WORKER, grid)
        if progress:
            progress("用户", index, len(places))
    first = places[0]
    organs = OrganService(context)
    organ_heads: dict[str, Principal] = {}
    for code, region in [(county.code, county), *townships.items()]:
        role = Role.COUNTY_OFFICER if region.level == Level.COUNTY else Role.TOWN_OFFICER
        head = await make(_head_username(region), role, region)
        await organs.designate(None, code, head.user_id)
        organ_heads[code] = head
    people = DemoPeople(county_officer, admin, town_officers, village_leaders, mediators, grid_workers, organ_heads)
    return people, _logins(county, first.township, first.village, first.grids[0])


def _head_username(region: Region) -> str:
    return "county-head" if region.level == Level.COUNTY else f"head-{region.code[6:9]}"


def _logins(county: Region, township: Region, village: Region, grid: Region) -> list[DemoLogin]:
    return [
        DemoLogin("admin", "系统管理员", county.name),
        DemoLogin("county", "县矛调中心干部", county.name),
        DemoLogin(_head_username(county), "县级机关负责人（审批延期）", county.name),
        DemoLogin(f"town-{township.code[6:9]}", "乡镇综治中心干部", township.name),
        DemoLogin(_head_username(township), "乡镇负责人（审批延期）", township.name),
        DemoLogin(f"leader-{village.code[6:]}", "村两委干部", village.name),
        DemoLogin(f"mediator-{village.code[6:]}", "村人民调解员", village.name),
        DemoLogin(f"grid-{grid.code[6:]}", "网格员", f"{village.name}{grid.name}"),
    ]


async def demo_logins(context: ServiceContext) -> list[DemoLogin]:
    """The printed logins of an already seeded demo database."""
    regions = RegionService(context)
    county = await regions.get(COUNTY_CODE)
    township = (await regions.subtree(county.path, level=Level.TOWNSHIP))[0]
    village = (await regions.subtree(township.path, level=Level.VILLAGE))[0]
    grid = (await regions.subtree(village.path, level=Level.GRID))[0]
    return _logins(county, township, village, grid)


class DemoStep(StrEnum):
    """Steps that are not lifecycle commands but go through their own service."""

    REQUEST_EXTENSION = "request_extension"
    APPROVE_EXTENSION = "approve_extension"


# Each scenario is the list of steps a case has gone through: (days after registration,
# who acts, action, reason, data). The registration age decides the deadline light.
Step = tuple[float, str, Action | DemoStep, str | None, dict[str, Any]]

REPLY = {
    "outcome": "support",
    "request": "请求依法处理",
    "facts_and_reasons": "经调查核实，信访人反映的情况属实。",
    "decision": "责成相关单位于十五日内整改到位。",
    "legal_basis": "《信访工作条例》第三十二条",
}


def _scenarios() -> dict[str, tuple[Kind, list[Step]]]:
    mediation_start = (
        1,
        "mediator",
        Action.START_MEDIATION,
        None,
        {"consenting_party_ids": "*", "informed_of_rights": True},
    )
    session = (
        3,
        "mediator",
        Action.RECORD_SESSION,
        None,
        {"summary": "组织双方当面协商，各自陈述意见。", "place": "村调委会调解室"},
    )
    accept = (1, "leader", Action.ACCEPT, None, {})
    town_accept = (3, "town", Action.ACCEPT, None, {})
    handling = (2, "town", Action.START_HANDLING, None, {})
    escalate = (2, "leader", Action.ESCALATE, "村级调解未果，提请镇综治中心处理", {})
    review_path = [
        accept,
        escalate,
        town_accept,
        handling,
        (20, "town", Action.REPLY, None, REPLY | {"outcome": "reject"}),
        (25, "county", Action.REQUEST_REVIEW, None, {}),
        (40, "county", Action.DECIDE_REVIEW, None, REPLY | {"outcome": "explain", "decision": "维持原处理意见。"}),
        (45, "county", Action.REQUEST_REREVIEW, None, {}),
        (60, "county", Action.DECIDE_REREVIEW, None, REPLY | {"outcome": "reject", "decision": "复核维持。"}),
    ]
    return {
        "registered": (Kind.CIVIL_DISPUTE, []),
        "registered_petition": (Kind.CLAIM, []),
        "accepted_petition": (Kind.SUGGESTION, [accept]),
        "declined": (
            Kind.CLAIM,
            [
                (
                    1,
                    "leader",
                    Action.DECLINE,
                    "不属于本级职权范围，已告知向有权机关提出",
                    {"basis": "《信访工作条例》第二十二条"},
                )
            ],
        ),
        "routed_litigation": (
            Kind.CLAIM,
            [accept, (2, "leader", Action.ROUTE, None, {"route": "litigation", "organ": "柞水县人民法院"})],
        ),
        "accusation_discipline": (
            Kind.ACCUSATION,
            [accept, (2, "leader", Action.ROUTE, None, {"route": "discipline", "organ": "柞水县纪委监委"})],
        ),
        "in_mediation": (Kind.CIVIL_DISPUTE, [accept, mediation_start, session]),
        "mediation_refused": (
            Kind.CIVIL_DISPUTE,
            [accept, (2, "mediator", Action.REFUSE_MEDIATION, "对方明确表示不接受调解", {"party_id": "respondent"})],
        ),
        "oral_agreement_closed": (
            Kind.CIVIL_DISPUTE,
            [
                accept,
                mediation_start,
                session,
                (
                    4,
                    "mediator",
                    Action.REACH_AGREEMENT,
                    None,
                    {"form": "oral", "content": "双方同意各自疏通本户门前排水沟。"},
                ),
                (10, "mediator", Action.CONFIRM_PERFORMANCE, None, {"summary": "回访确认已疏通。"}),
                (11, "leader", Action.CLOSE, None, {"resolution": "调解成功，协议已履行"}),
            ],
        ),
        "written_agreement_pending": (
            Kind.CIVIL_DISPUTE,
            [
                accept,
                mediation_start,
                session,
                (
                    5,
                    "mediator",
                    Action.REACH_AGREEMENT,
                    None,
                    {
                        "form": "written",
                        "content": "被申请人赔偿申请人损失人民币八百元。",
                        "creates_obligations": True,
                        "performance_manner": "现金",
                        "performance_place": "村委会",
                        "performance_deadline": "协议签订后十日内",
                    },
                ),
            ],
        ),
        "written_agreement_effective": (
            Kind.CIVIL_DISPUTE,
            [
                accept,
                mediation_start,
                session,
                (
                    5,
                    "mediator",
                    Action.REACH_AGREEMENT,
                    None,
                    {
                        "form": "written",
                        "content": "被申请人赔偿申请人损失人民币一千二百元。",
                        "creates_obligations": True,
                    },
                ),
                (
                    6,
                    "mediator",
                    Action.SIGN_AGREEMENT,
                    None,
                    {"party_ids": "*", "mediator_signed": True, "committee_sealed": True},
                ),
                (15, "mediator", Action.FOLLOW_UP, None, {"summary": "回访：已支付一半，余款约定月底付清。"}),
            ],
        ),
        "escalated_to_town": (
            Kind.CIVIL_DISPUTE,
            [
                accept,
                mediation_start,
                session,
                (
                    4,
                    "mediator",
                    Action.FAIL_MEDIATION,
                    "双方分歧较大，调解不成",
                    {"routes_told": ["arbitration", "litigation"]},
                ),
                escalate,
            ],
        ),
        "town_handling": (Kind.CLAIM, [accept, escalate, town_accept, handling]),
        "town_handling_extended": (
            Kind.CLAIM,
            [
                accept,
                escalate,
                town_accept,
                handling,
                # Art. 34: the officer asks, the town's head approves (never the same person).
                (
                    50,
                    "town",
                    DemoStep.REQUEST_EXTENSION,
                    "需协调县自然资源局重新测量，延长办理期限",
                    {"days": 30},
                ),
                (51, "head", DemoStep.APPROVE_EXTENSION, "同意延期三十日", {}),
            ],
        ),
        "replied": (Kind.CLAIM, [accept, escalate, town_accept, handling, (20, "town", Action.REPLY, None, REPLY)]),
        "replied_closed": (
            Kind.CLAIM,
            [
                accept,
                escalate,
                town_accept,
                handling,
                (20, "town", Action.REPLY, None, REPLY),
                (21, "town", Action.EVALUATE, None, {"evaluation": "satisfied"}),
                (22, "town", Action.CLOSE, None, {"resolution": "已答复，信访人满意"}),
            ],
        ),
        "review_requested": (
            Kind.CLAIM,
            [
                accept,
                escalate,
                town_accept,
                handling,
                (20, "town", Action.REPLY, None, REPLY | {"outcome": "reject"}),
                (25, "county", Action.REQUEST_REVIEW, None, {}),
            ],
        ),
        "mediation_failed": (
            Kind.CIVIL_DISPUTE,
            [
                accept,
                mediation_start,
                session,
                (4, "mediator", Action.FAIL_MEDIATION, "对方坚持不让步", {"routes_told": ["litigation"]}),
            ],
        ),
        "reviewed": (Kind.CLAIM, review_path[:7]),
        "rereview_requested": (Kind.CLAIM, review_path[:8]),
        "final": (Kind.CLAIM, review_path),
        "county_direct": (
            Kind.CLAIM,
            [
                (
                    1,
                    "leader",
                    Action.ESCALATE,
                    "涉及多个村且人数众多，直接报县级",
                    {"to_level": "county", "rule": "risk.collective"},
                ),
                (2, "county", Action.ACCEPT, None, {}),
                (3, "county", Action.START_HANDLING, None, {}),
            ],
        ),
    }


# Scenario, registration age range in days: spread over green, yellow and red.
SCENARIO_AGES: list[tuple[str, tuple[int, int]]] = [
    ("registered", (0, 40)),
    ("registered_petition", (0, 25)),
    ("accepted_petition", (2, 25)),
    ("declined", (3, 60)),
    ("routed_litigation", (3, 60)),
    ("accusation_discipline", (3, 60)),
    ("in_mediation", (4, 50)),
    ("mediation_refused", (3, 40)),
    ("oral_agreement_closed", (12, 120)),
    ("written_agreement_pending", (6, 30)),
    ("written_agreement_effective", (16, 60)),
    ("escalated_to_town", (7, 30)),
    ("town_handling", (6, 75)),
    ("town_handling_extended", (52, 95)),
    ("replied", (21, 60)),
    ("replied_closed", (23, 120)),
    ("review_requested", (26, 60)),
    ("county_direct", (4, 70)),
    ("mediation_failed", (5, 30)),
    ("reviewed", (41, 80)),
    ("rereview_requested", (46, 90)),
    ("final", (61, 150)),
]


async def _seed_cases(context, people: DemoPeople, places, rng, now, case_count, progress) -> None:
    """Plan every case first, then replay all steps in time order across cases, so
    official numbers follow acceptance dates as they would in real use."""
    scenarios = _scenarios()
    clock = FixedClock(now)
    service = CaseService(replace(context, clock=clock))
    extensions = ExtensionService(replace(context, clock=clock))
    pending_extensions: dict[int, uuid.UUID] = {}
    plans = []
    moments: list[tuple[datetime, int, int]] = []  # (when, case index, step index; -1 = intake)
    for index in range(case_count):
        name, (low, high) = SCENARIO_AGES[index % len(SCENARIO_AGES)]
        kind, steps = scenarios[name]
        # The village of the printed logins gets one case of every scenario.
        place = places[0] if index < len(SCENARIO_AGES) else rng.choice(places)
        grid = rng.choice(place.grids)
        registered_at = now - timedelta(days=rng.uniform(low, high))
        if steps and registered_at + timedelta(days=steps[-1][0]) > now:
            registered_at = now - timedelta(days=steps[-1][0] + rng.uniform(0.1, 2))
        actors = {
            "grid": people.grid_workers[grid.code],
            "leader": people.village_leaders[place.village.code],
            "mediator": people.mediators[place.village.code],
            "town": people.town_officers[place.township.code],
            "county": people.county_officer,
            "head": people.organ_heads[place.township.code],
        }
        plans.append({"intake": _intake(kind, grid, rng, registered_at), "steps": steps, "actors": actors})
        moments.append((registered_at, index, -1))
        previous = registered_at
        for step_index, step in enumerate(steps):
            # Steps of one case keep their order even when planned for the same day.
            at = max(registered_at + timedelta(days=step[0], hours=rng.uniform(0, 6)), previous + timedelta(minutes=5))
            moments.append((min(at, now), index, step_index))
            previous = at
    moments.sort()
    bundles: dict[int, Any] = {}
    for done, (at, index, step_index) in enumerate(moments, start=1):
        clock.at = at
        plan = plans[index]
        if step_index < 0:
            bundles[index] = await service.create(plan["actors"]["grid"], plan["intake"])
        else:
            _, who, action, reason, data = plan["steps"][step_index]
            bundle = bundles[index]
            actor = plan["actors"][who]
            if action is DemoStep.REQUEST_EXTENSION:
                asked = await extensions.request(actor, bundle.case.id, ExtensionRequestCreate(reason=reason, **data))
                pending_extensions[index] = asked.request.id
            elif action is DemoStep.APPROVE_EXTENSION:
                approval = ExtensionDecision(decision="approve", note=reason)
                await extensions.decide(actor, bundle.case.id, pending_extensions.pop(index), approval)
            else:
                party_ids = [str(party.id) for party in bundle.parties]
                respondent = next(
                    (str(p.id) for p in bundle.parties if p.role == PartyRole.RESPONDENT.value), party_ids[0]
                )
                resolved = {
                    key: (party_ids if value == "*" else respondent if value == "respondent" else value)
                    for key, value in data.items()
                }
                await service.transition(
                    actor, bundle.case.id, TransitionRequest(action=action, reason=reason, data=resolved)
                )
        if progress:
            progress("案件办理记录", done, len(moments))


def _intake(kind: Kind, grid: Region, rng: random.Random, at: datetime) -> CaseCreate:
    category, title, request, facts = rng.choice(DISPUTES)
    collective = kind is Kind.CLAIM and rng.random() < 0.1
    parties = [
        PartyCreate(
            name=_person_name(rng),
            role=PartyRole.APPLICANT,
            id_number=None if rng.random() < 0.1 else _id_number(rng, at),
            id_unknown_reason="当事人未携带身份证，口述无法核实" if rng.random() < 0.1 else None,
            phone=_mobile(rng) if rng.random() < 0.8 else f"0914-43{rng.randint(10000, 99999)}",
            address=f"陕西省商洛市柞水县{grid.name}{rng.randint(1, 60)}号",
            is_representative=collective,
            is_signer=collective,
        )
    ]
    parties = [replace_party(parties[0])]
    if collective:
        parties += [
            PartyCreate(name=_person_name(rng), id_number=_id_number(rng, at), is_signer=True, is_representative=i < 2)
            for i in range(rng.randint(4, 8))
        ]
    if kind is Kind.CIVIL_DISPUTE:
        parties.append(
            PartyCreate(
                name=_person_name(rng), role=PartyRole.RESPONDENT, id_number=_id_number(rng, at), phone=_mobile(rng)
            )
        )
    elif rng.random() < 0.3:
        parties.append(
            PartyCreate(kind=PartyKind.ORGANISATION, role=PartyRole.RESPONDENT, name="柞水县某建筑工程有限公司")
        )
    lat = 33.68 + rng.uniform(-0.25, 0.25)
    lon = 109.11 + rng.uniform(-0.25, 0.25)
    return CaseCreate(
        id=uuid.UUID(int=rng.getrandbits(128), version=4),
        kind=kind,
        category=category,
        channel=rng.choice([Channel.DOOR_TO_DOOR, Channel.DOOR_TO_DOOR, Channel.VISIT, Channel.PHONE, Channel.LETTER]),
        title=title,
        request=request,
        facts=facts,
        reasons="申请人认为对方的行为侵害了其合法权益。",
        risk=rng.choice([Risk.LOW, Risk.LOW, Risk.LOW, Risk.MEDIUM, Risk.HIGH]),
        location=Location(latitude=round(lat, 6), longitude=round(lon, 6)),
        people_involved=len(parties) + (rng.randint(5, 30) if collective else 0),
        is_collective=collective,
        flags=CaseFlags(involves_litigation=False),
        grid_code=grid.code,
        captured_at=at - timedelta(minutes=rng.randint(5, 600)),
        parties=parties,
    )


def replace_party(party: PartyCreate) -> PartyCreate:
    # An applicant without an ID number needs the reason; one with a number needs none.
    if party.id_number is None and party.id_unknown_reason is None:
        return party.model_copy(update={"id_unknown_reason": "当事人未携带身份证"})
    if party.id_number is not None:
        return party.model_copy(update={"id_unknown_reason": None})
    return party
