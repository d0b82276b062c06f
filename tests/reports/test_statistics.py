"""Statistics from plain records: periods, each indicator's rule, charts, CSV, XLSX and the
report PDF (real WeasyPrint, real qpdf, text read back with pypdf)."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from grid import deadlines
from grid.calendar import CHINA_TZ, StatutoryCalendar
from grid.cases import Channel, HandlingLevel, Kind
from grid.errors import DomainError
from grid.lifecycle import CaseFacts, Evaluation, Outcome, Route, Status
from reports import charts
from reports.spreadsheets import BOM, to_csv, to_xlsx
from reports.statistics import (
    Activity,
    CaseRecord,
    ScreeningDue,
    check_started,
    compute,
    month_period,
    parse_period,
    previous_month,
)
from reports.statistics_report import ATTACHMENT_NAME, render_statistics_pdf, report_html
from tests.reports.pdfcheck import assert_archival, text_of

CALENDAR = StatutoryCalendar()
COUNTY_PATH = "/610000000000/611000000000/611026000000/"
TOWN_A = "611026001000"
TOWN_B = "611026101000"
VILLAGE_A = f"{COUNTY_PATH}{TOWN_A}/611026001001/"
VILLAGE_B = f"{COUNTY_PATH}{TOWN_B}/611026101001/"
NOVEMBER = month_period(2026, 11)
AS_OF = datetime(2026, 12, 1, 0, 30, tzinfo=CHINA_TZ)
CATEGORIES = {"neighbourhood": "邻里纠纷", "wage_arrears": "劳动争议（欠薪）", "homestead": "房屋宅基地"}
CHILDREN = {TOWN_A: "乾佑街道", TOWN_B: "营盘镇"}


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=CHINA_TZ)


def record(number: int, facts: CaseFacts, **overrides) -> CaseRecord:
    values = {
        "id": f"case-{number}",
        "kind": facts.kind,
        "category": "neighbourhood",
        "channel": Channel.DOOR_TO_DOOR.value,
        "is_collective": False,
        "region_path": VILLAGE_A,
        "registered_at": facts.registered_at,
        "facts": facts,
    } | overrides
    return CaseRecord(**values)


def facts(kind: Kind = Kind.CIVIL_DISPUTE, day: int = 2, **values) -> CaseFacts:
    base = {"status": Status.REGISTERED, "level": HandlingLevel.VILLAGE, "kind": kind, "registered_at": at(day)}
    return CaseFacts(**(base | values))


def run(cases, **extra):
    return compute(
        region_code="611026000000",
        region_name="柞水县",
        region_path=COUNTY_PATH,
        period=NOVEMBER,
        as_of=extra.pop("as_of", AS_OF),
        calendar=CALENDAR,
        cases=cases,
        categories=CATEGORIES,
        children=CHILDREN,
        **extra,
    )


# ---------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("text", "key", "start", "end", "label"),
    [
        ("2026-11", "2026-11", date(2026, 11, 1), date(2026, 11, 30), "2026年11月"),
        ("2026-2", "2026-02", date(2026, 2, 1), date(2026, 2, 28), "2026年2月"),
        ("2024-02", "2024-02", date(2024, 2, 1), date(2024, 2, 29), "2024年2月"),
        ("2026-Q4", "2026-Q4", date(2026, 10, 1), date(2026, 12, 31), "2026年第四季度"),
        ("2026-q1", "2026-Q1", date(2026, 1, 1), date(2026, 3, 31), "2026年第一季度"),
        (" 2026 ", "2026", date(2026, 1, 1), date(2026, 12, 31), "2026年"),
    ],
)
def test_should_read_a_month_a_quarter_and_a_year(text, key, start, end, label):
    period = parse_period(text)
    assert (period.key, period.start, period.end, period.label_zh) == (key, start, end, label)
    assert period.starts_at == datetime.combine(start, datetime.min.time(), tzinfo=CHINA_TZ)
    assert period.ends_at - timedelta(microseconds=1) < datetime.combine(
        end + timedelta(days=1), datetime.min.time(), tzinfo=CHINA_TZ
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2026-13", "月份应为 01-12"),
        ("2026-00", "月份应为 01-12"),
        ("2026-Q5", "季度应为 Q1-Q4"),
        ("2026-Q0", "季度应为 Q1-Q4"),
        ("1999", "超出范围"),
        ("2026/11", "2026-11（月）、2026-Q4（季度）或 2026（年）"),
        ("Nov 2026", "无法识别的统计期"),
        ("", "无法识别的统计期"),
        ("2026-11-01", "无法识别的统计期"),
    ],
)
def test_should_refuse_a_malformed_period_saying_what_is_wrong(text, says):
    with pytest.raises(DomainError) as refused:
        parse_period(text)
    assert refused.value.code == "statistics.invalid_period"
    assert says in refused.value.message
    assert refused.value.data["expected"] == ["YYYY-MM", "YYYY-Qn", "YYYY"]


def test_should_refuse_a_period_that_has_not_begun():
    check_started(parse_period("2026-11"), datetime(2026, 11, 1, 0, 0, tzinfo=CHINA_TZ))
    with pytest.raises(DomainError) as refused:
        check_started(parse_period("2026-12"), datetime(2026, 11, 30, 23, 59, tzinfo=CHINA_TZ))
    assert refused.value.code == "statistics.period_not_started"


def test_should_take_the_month_before_across_a_new_year():
    assert previous_month(date(2027, 1, 1)).key == "2026-12"
    assert previous_month(date(2026, 12, 1)).key == "2026-11"
    assert previous_month(date(2026, 3, 31)).key == "2026-02"


# ---------------------------------------------------------------- indicators


def test_should_count_resolved_cases_over_accepted_ones_not_routed_out_and_say_where():
    accepted = at(3)
    cases = [
        # Resolved in the village by an oral agreement in effect.
        record(1, facts(status=Status.AGREEMENT_EFFECTIVE, accepted_at=accepted, agreement_effective_at=at(5))),
        # Resolved at the township: closed after a written reply.
        record(
            2,
            facts(
                Kind.CLAIM,
                status=Status.CLOSED,
                level=HandlingLevel.TOWNSHIP,
                accepted_at=accepted,
                reply_outcome=Outcome.SUPPORT,
            ),
            region_path=VILLAGE_B,
        ),
        # Not resolved: an agreement reported unperformed (the dispute is back).
        record(
            3,
            facts(
                status=Status.MEDIATION_FAILED,
                accepted_at=accepted,
                agreement_effective_at=at(4),
                performance="not_performed",
            ),
        ),
        # Not resolved: a reply, not closed yet (the review window is open).
        record(4, facts(Kind.CLAIM, status=Status.REPLIED, accepted_at=accepted, reply_outcome=Outcome.EXPLAIN)),
        # Not resolved: closed after mediation failed, no reply.
        record(5, facts(status=Status.CLOSED, accepted_at=accepted)),
        # Out of the denominator: routed out (分流), and never accepted.
        record(6, facts(Kind.CLAIM, status=Status.ROUTED_OUT, accepted_at=accepted, route=Route.LITIGATION)),
        record(7, facts(Kind.CLAIM, status=Status.NOT_ACCEPTED)),
    ]
    statistics = run(cases)
    assert statistics.counts.items() >= {"registered": 7, "accepted": 6, "routed_out": 1, "resolved": 2}.items()
    assert (statistics.rates["resolution"].numerator, statistics.rates["resolution"].denominator) == (2, 5)
    assert statistics.rates["resolved_in_village"].value == 0.5
    assert statistics.rates["resolved_in_township"].value == 0.5
    assert statistics.rates["resolved_in_county"].value == 0.0
    units = {unit.code: (unit.registered, unit.resolved, unit.resolution.denominator) for unit in statistics.units}
    assert units == {TOWN_A: (6, 1, 4), TOWN_B: (1, 1, 1)}


def test_should_count_acceptance_within_the_fifteen_day_notice_clock_and_leave_running_clocks_out():
    registered = at(2)
    due = deadlines.notice_due(CALENDAR, registered)
    late_at = due.ends_at + timedelta(hours=1)
    cases = [
        record(1, facts(Kind.CLAIM, accepted_at=registered + timedelta(days=3))),  # on time
        record(2, facts(Kind.SUGGESTION, status=Status.NOT_ACCEPTED), declined_at=registered + timedelta(days=1)),
        record(3, facts(Kind.CLAIM, accepted_at=late_at)),  # late
        record(4, facts(Kind.ACCUSATION)),  # undecided and past due: late
        record(5, facts(Kind.CLAIM, day=28)),  # undecided, clock running: pending
        record(6, facts(Kind.CIVIL_DISPUTE, accepted_at=late_at)),  # no notice clock for disputes
    ]
    rate = run(cases).rates["timely_acceptance"]
    assert (rate.numerator, rate.denominator, rate.pending) == (2, 4, 1)


def test_should_count_handling_on_time_within_sixty_days_or_ninety_with_the_extension():
    accepted = datetime(2026, 9, 1, 10, tzinfo=CHINA_TZ)
    started = accepted + timedelta(days=1)
    sixty = deadlines.handling_due(CALENDAR, accepted)
    extended = deadlines.handling_due(CALENDAR, accepted, 30)
    handled = {"accepted_at": accepted, "handling_started_at": started, "status": Status.REPLIED}
    cases = [
        record(1, facts(Kind.CLAIM, replied_at=sixty.ends_at - timedelta(hours=1), **handled)),
        record(2, facts(Kind.CLAIM, replied_at=sixty.ends_at + timedelta(hours=1), **handled)),
        record(3, facts(Kind.CLAIM, replied_at=sixty.ends_at + timedelta(days=5), extension_days=30, **handled)),
        # Ended by an agreement during handling (Art. 33): done when it took effect.
        record(4, facts(Kind.CLAIM, **(handled | {"agreement_effective_at": started + timedelta(days=9)}))),
        # Still in handling past the 90 days: late; within them: pending.
        record(5, facts(Kind.CLAIM, **(handled | {"status": Status.IN_HANDLING, "extension_days": 30}))),
        record(
            6,
            facts(
                Kind.CLAIM,
                status=Status.IN_HANDLING,
                accepted_at=at(20),
                handling_started_at=at(21),
            ),
        ),
        record(7, facts(Kind.CLAIM, accepted_at=accepted, status=Status.ACCEPTED)),  # never handled: not counted
    ]
    assert extended.ends_at < AS_OF  # case 5 is past even the extended period
    rate = run(cases).rates["on_time_handling"]
    assert (rate.numerator, rate.denominator, rate.pending) == (3, 5, 1)


def test_should_measure_satisfaction_among_the_evaluated_and_participation_among_the_evaluable():
    replied = {"status": Status.REPLIED, "reply_outcome": Outcome.SUPPORT}
    cases = [
        record(1, facts(Kind.CLAIM, evaluation=Evaluation.SATISFIED, **replied)),
        record(2, facts(Kind.CLAIM, evaluation=Evaluation.BASICALLY_SATISFIED, **replied)),
        record(3, facts(Kind.CLAIM, evaluation=Evaluation.DISSATISFIED, **replied)),
        record(4, facts(Kind.CLAIM, **replied)),  # not evaluated
        record(5, facts(status=Status.AGREEMENT_EFFECTIVE, agreement_effective_at=at(9))),  # not evaluated
        # An evaluation left on a case that has nothing to evaluate (a new agreement is
        # under way) is not counted.
        record(6, facts(status=Status.IN_MEDIATION, evaluation=Evaluation.SATISFIED)),
    ]
    statistics = run(cases)
    satisfaction, participation = statistics.rates["satisfaction"], statistics.rates["participation"]
    assert (satisfaction.numerator, satisfaction.denominator) == (2, 3)
    assert (participation.numerator, participation.denominator) == (3, 5)
    assert statistics.counts["evaluated_dissatisfied"] == 1


def test_should_rate_mediation_performance_and_judicial_confirmation_from_the_agreement_facts():
    started = {"mediation_started_at": at(3)}
    cases = [
        record(
            1,
            facts(
                status=Status.CLOSED,
                agreement_form="oral",
                agreement_effective_at=at(4),
                performance="performed",
                **started,
            ),
        ),
        record(
            2,
            facts(
                status=Status.AGREEMENT_EFFECTIVE,
                agreement_form="written",
                agreement_effective_at=at(6),
                judicial_confirmation_requested_at=at(8),
                **started,
            ),
        ),
        record(
            3,
            facts(status=Status.AGREEMENT_EFFECTIVE, agreement_form="written", agreement_effective_at=at(7), **started),
        ),
        record(
            4,
            facts(
                status=Status.MEDIATION_FAILED,
                agreement_form="oral",
                agreement_effective_at=at(5),
                performance="not_performed",
                **started,
            ),
        ),
        record(5, facts(status=Status.MEDIATION_FAILED, **started)),  # failed
        record(6, facts(status=Status.ESCALATED, **started)),  # mediation ended, escalated
        record(7, facts(status=Status.IN_MEDIATION, **started)),  # pending
        record(8, facts(status=Status.AGREEMENT_PENDING, agreement_form="written", **started)),  # pending
    ]
    rates = run(cases).rates
    success, performance, confirmation = (
        rates["mediation_success"],
        rates["agreement_performance"],
        rates["judicial_confirmation"],
    )
    assert (success.numerator, success.denominator, success.pending) == (4, 6, 2)
    assert (performance.numerator, performance.denominator, performance.pending) == (1, 2, 2)
    assert (confirmation.numerator, confirmation.denominator) == (1, 2)


def test_should_count_repeats_skip_level_and_collective_visits_and_break_down_the_cases():
    cases = [
        record(1, facts(Kind.CLAIM), duplicate=True, channel=Channel.VISIT.value, skip_level=True),
        record(2, facts(Kind.CLAIM), skip_level=True, channel=Channel.LETTER.value, category="wage_arrears"),
        record(3, facts(Kind.CLAIM), is_collective=True, channel=Channel.VISIT.value, category="wage_arrears"),
        record(4, facts(Kind.CLAIM), is_collective=True, channel=Channel.ONLINE.value, category="unknown_code"),
    ]
    statistics = run(cases)
    assert (
        statistics.counts.items()
        >= {
            "duplicates": 1,
            "skip_level": 2,
            "skip_level_visits": 1,
            "collective": 2,
            "collective_visits": 1,
        }.items()
    )
    assert statistics.rates["repeat"].value == 0.25
    categories = [(item.code, item.name, item.count) for item in statistics.breakdowns["category"]]
    # Most cases first; the list's own order among equals; zeros kept; unknown codes named by code.
    assert categories == [
        ("wage_arrears", "劳动争议（欠薪）", 2),
        ("neighbourhood", "邻里纠纷", 1),
        ("unknown_code", "unknown_code", 1),
        ("homestead", "房屋宅基地", 0),
    ]
    assert [(item.name, item.count) for item in statistics.breakdowns["channel"]] == [
        ("来访", 2),
        ("来信", 1),
        ("网上信访", 1),
    ]


def test_should_rate_screening_reports_on_time_over_those_whose_due_day_has_passed():
    due = deadlines.Due(date(2026, 11, 17), provisional=False)
    later = deadlines.Due(date(2026, 12, 2), provisional=False)
    owed = [
        ScreeningDue("a", "grid", date(2026, 11, 1), date(2026, 11, 15), due, at(16)),  # on time
        ScreeningDue("b", "grid", date(2026, 11, 1), date(2026, 11, 15), due, at(18)),  # late
        ScreeningDue("c", "grid", date(2026, 11, 1), date(2026, 11, 15), due, None),  # missing
        ScreeningDue("a", "grid", date(2026, 11, 16), date(2026, 11, 30), later, None),  # pending
    ]
    statistics = run([], screening=owed)
    rate = statistics.rates["screening_timeliness"]
    assert (rate.numerator, rate.denominator, rate.pending) == (1, 3, 1)
    assert (statistics.counts["screening_missing"], statistics.counts["screening_late"]) == (1, 1)


def test_should_count_routing_referrals_supervision_organs_and_suggestions_for_the_annual_report():
    activities = [
        Activity("route", at(3), "x", Route.LITIGATION.value),
        Activity("route", at(4), "y", Route.DISCIPLINE.value),
        Activity("route", at(5), "z", Route.LITIGATION.value),
        Activity("refer_down", at(6), "x"),
        Activity("supervision", at(7), "x", "replied"),
        Activity("supervision", at(8), "y", "overdue"),
    ]
    cases = [
        record(1, facts(Kind.SUGGESTION, reply_outcome=Outcome.SUPPORT), respondent_organisations=("某镇政府",)),
        record(2, facts(Kind.SUGGESTION), respondent_organisations=("某公司", "某镇政府")),
        record(3, facts(Kind.CLAIM), respondent_organisations=("某公司", "某公司")),  # one case counts once
    ]
    statistics = run(cases, activities=activities)
    assert statistics.activities == {
        "route": 3,
        "refer_down": 1,
        "supervision": 2,
        "supervision_replied": 1,
        "supervision_open": 0,
        "supervision_overdue": 1,
    }
    assert [(item.code, item.count) for item in statistics.routes] == [("litigation", 2), ("discipline", 1)]
    assert [(item.name, item.count) for item in statistics.organs] == [("某公司", 2), ("某镇政府", 2)]
    outcomes = {item.code: item.count for item in statistics.suggestion_outcomes}
    assert outcomes == {"support": 1, "pending": 1}
    assert statistics.to_json()["annual"]["suggestions"]["adoption_recorded"] is False


def test_should_draw_the_trend_per_day_of_a_month_and_per_month_of_a_year():
    cases = [record(1, facts(Kind.CLAIM, day=2)), record(2, facts(day=2)), record(3, facts(day=30))]
    trend = run(cases).trend
    assert len(trend) == 30 and trend[1] == ("2日", 1, 1) and trend[29] == ("30日", 0, 1)
    year = compute(
        region_code="611026000000",
        region_name="柞水县",
        region_path=COUNTY_PATH,
        period=parse_period("2026"),
        as_of=AS_OF,
        calendar=CALENDAR,
        cases=cases,
    )
    assert [label for label, _, _ in year.trend] == [f"{month}月" for month in range(1, 13)]
    assert year.trend[10] == ("11月", 1, 2)


# ---------------------------------------------------------------- charts


def test_should_draw_chart_labels_as_real_text_elements_in_chinese():
    svg = charts.bar_chart([("劳动争议（欠薪）", 12), ("邻里纠纷", 3)], title="按纠纷类别登记件数")
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert {"按纠纷类别登记件数", "劳动争议（欠薪）", "邻里纠纷", "12件", "3件"} <= set(texts)
    assert 'font-family="Noto Sans CJK SC"' in svg
    assert svg == charts.bar_chart([("劳动争议（欠薪）", 12), ("邻里纠纷", 3)], title="按纠纷类别登记件数")
    line = charts.line_chart(
        ["1日", "2日", "3日"], [("信访事项", [1, 0, 4]), ("民间纠纷", [2, 2, 0])], title="逐日登记件数"
    )
    assert {"逐日登记件数", "信访事项", "民间纠纷", "1日", "3日"} <= set(re.findall(r"<text[^>]*>([^<]*)</text>", line))
    assert line.count("<polyline") == 2


def test_should_pick_round_axis_maxima():
    assert charts.nice_ceiling(0) == (5.0, 1.0)
    assert charts.nice_ceiling(7) == (8.0, 2.0)
    assert charts.nice_ceiling(93.2) == (100.0, 20.0)
    assert charts.nice_ceiling(1234) == (1500.0, 500.0)


# ---------------------------------------------------------------- files


def sample() -> dict:
    cases = [
        record(1, facts(Kind.CLAIM, status=Status.CLOSED, accepted_at=at(3), reply_outcome=Outcome.SUPPORT)),
        record(2, facts(status=Status.AGREEMENT_EFFECTIVE, accepted_at=at(4), agreement_effective_at=at(9))),
        record(3, facts(Kind.SUGGESTION, accepted_at=at(5)), category="wage_arrears", region_path=VILLAGE_B),
        record(
            4, facts(Kind.CLAIM, status=Status.NOT_ACCEPTED), declined_at=at(3), respondent_organisations=("县某局",)
        ),
    ]
    return run(cases).to_json()


def json_rows(figures: dict) -> dict[str, tuple]:
    """The figures of the JSON by row key, derived here from the JSON's own structure."""
    rows = {f"counts.{key}": (value, None, None) for key, value in figures["counts"].items() if key != "suggestions"}
    for key, rate in figures["rates"].items():
        rows[f"rates.{key}"] = (rate["rate"], rate["numerator"], rate["denominator"])
    for group, items in figures["breakdowns"].items():
        rows.update({f"breakdowns.{group}.{item['code']}": (item["count"], None, None) for item in items})
    for unit in figures["units"]:
        rows[f"units.{unit['code']}.registered"] = (unit["registered"], None, None)
        ratio = unit["resolution"]
        rows[f"units.{unit['code']}.resolution"] = (ratio["rate"], ratio["numerator"], ratio["denominator"])
    annual = figures["annual"]
    rows.update({f"annual.{key}": (value, None, None) for key, value in annual["activities"].items()})
    rows["annual.suggestions"] = (annual["suggestions"]["count"], None, None)
    return rows


def test_should_write_csv_with_a_bom_and_the_same_figures_as_the_json():
    figures = sample()
    data = to_csv(figures)
    assert data.startswith(BOM.encode("utf-8"))
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert lines[0][:4] == ["分组", "指标代码", "指标", "数值"]
    by_key = {line[1]: line for line in lines[1:]}
    assert "柞水县" in by_key["meta.region"][3]

    def number(text: str):
        return None if text == "" else float(text) if "." in text else int(text)

    for key, (value, numerator, denominator) in json_rows(figures).items():
        line = by_key[key]
        assert (number(line[3]), number(line[4]), number(line[5])) == (value, numerator, denominator), key
    assert "劳动争议（欠薪）" in data.decode("utf-8-sig")


def test_should_write_xlsx_with_the_same_figures_and_the_same_bytes_every_time():
    figures = sample()
    data = to_xlsx(figures)
    assert data == to_xlsx(figures)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2026, 11, 30, 16, 30, 0)}
        core = archive.read("docProps/core.xml").decode()
    assert "2026-11-30T16:30:00Z" in core
    sheet = load_workbook(io.BytesIO(data)).active
    by_key = {row[1]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    for key, expected in json_rows(figures).items():
        assert tuple(by_key[key][3:6]) == expected, key
    assert sheet["D1"].value == "数值"


def test_should_render_the_monthly_report_as_pdf_a_with_searchable_chinese_charts_and_the_figures_inside():
    figures = sample()
    pdf = render_statistics_pdf(figures)
    assert pdf == render_statistics_pdf(figures)  # deterministic
    reader = PdfReader(io.BytesIO(pdf))
    text = "".join(text_of(pdf).split())  # lines wrap anywhere in Chinese
    # Headings, figures and the charts' own labels (SVG <text>) come back as text.
    for expected in ("柞水县矛盾纠纷排查化解工作月报", "2026年11月", "化解率", "66.7%", "主要指标", "逐日登记件数"):
        assert expected in text, expected
    for label in (
        "按纠纷类别登记件数",
        "劳动争议（欠薪）",
        "各地登记件数",
        "乾佑街道",
        "营盘镇",
        "信访事项",
        "民间纠纷",
    ):
        assert label in text, label
    attached = reader.attachments[ATTACHMENT_NAME][0]
    assert json.loads(attached) == figures
    assert_archival(pdf)  # PDF/A-3b, sRGB intent, fonts embedded and subset, qpdf --check


def test_should_render_the_annual_report_with_the_sections_of_article_41():
    figures = sample()
    annual = compute(
        region_code="611026000000",
        region_name="柞水县",
        region_path=COUNTY_PATH,
        period=parse_period("2026"),
        as_of=AS_OF,
        calendar=CALENDAR,
        cases=[replace(record(1, facts(Kind.SUGGESTION)), respondent_organisations=("县某局",))],
        activities=[Activity("refer_down", at(6), "x"), Activity("supervision", at(7), "x", "open")],
        categories=CATEGORIES,
    ).to_json()
    assert figures["period"]["kind"] == "month"
    text = "".join(text_of(render_statistics_pdf(annual)).split())
    for expected in (
        "柞水县信访工作年度报告",
        "信访事项涉及领域",
        "被反映较多的单位",
        "县某局",
        "转送、交办、督办情况",
        "建议意见类事项及采纳情况",
        "尚未记录建议是否被采纳",
    ):
        assert expected in text, expected


def test_should_title_a_quarter_as_a_quarterly_report_with_its_months_in_the_trend():
    quarter = compute(
        region_code="611026000000",
        region_name="柞水县",
        region_path=COUNTY_PATH,
        period=parse_period("2026-Q4"),
        as_of=AS_OF,
        calendar=CALENDAR,
        cases=[record(1, facts(Kind.CLAIM))],
        categories=CATEGORIES,
    ).to_json()
    text = "".join(text_of(render_statistics_pdf(quarter)).split())
    assert "柞水县矛盾纠纷排查化解工作季报" in text and "2026年第四季度" in text
    assert "逐月登记件数" in text and "11月" in text


def test_should_keep_costly_punctuation_out_of_the_heading_face_so_the_report_stays_small():
    html = report_html(sample())
    # Every ，。、：；？！ of the text sits in the Serif span (statistics.css explains why).
    text_only = re.sub(r"<style.*?</style>|<svg.*?</svg>|<span class=\"p\">.</span>|<[^>]+>", "", html, flags=re.S)
    assert not re.search("[，。、：；？！]", text_only)
    assert len(render_statistics_pdf(sample())) < 300_000
