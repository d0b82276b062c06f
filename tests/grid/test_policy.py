"""The escalation policy file (grid.policy): the demo county's default, every validation
rule with the line and rule code it reports, and the 排查 cadence.

Line numbers are found in the test by searching the text for the offending snippet, never
by asking the parser's own locator.
"""

from __future__ import annotations

import bisect
import itertools
import re
import tomllib
from datetime import date, datetime, timedelta
from fractions import Fraction
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grid.calendar import CHINA_TZ, StatutoryCalendar
from grid.cases import HandlingLevel, Kind
from grid.deadlines import HANDLING_DAYS, Due, Light, light, working_days_period
from grid.errors import DomainError
from grid.policy import (
    CALENDAR_DAYS_CEILING,
    STATUTORY_YELLOW_SHARE,
    WORKING_DAYS_CEILING,
    Cadence,
    Complexity,
    Condition,
    DayUnit,
    Failure,
    NotifyEvent,
    PolicyInvalid,
    Recipient,
    ReviewOrgan,
    parse_policy,
)

CAL = StatutoryCalendar()
DEFAULT_TEXT = resources.files("grid").joinpath("policies/zhashui.toml").read_text(encoding="utf-8")
DEFAULT = parse_policy(DEFAULT_TEXT)


def mutate(old: str, new: str, text: str = DEFAULT_TEXT) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once"
    return text.replace(old, new)


def line_of(text: str, snippet: str) -> int:
    """1-based line of the one line containing ``snippet``."""
    found = [number for number, line in enumerate(text.splitlines(), start=1) if snippet in line]
    assert len(found) == 1, f"{snippet!r} is on lines {found}"
    return found[0]


def refused(text: str) -> PolicyInvalid:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(text)
    error = caught.value
    assert error.code == "policy.invalid"
    assert isinstance(error, DomainError)
    return error


def only_issue(text: str):
    error = refused(text)
    assert len(error.issues) == 1, [str(issue) for issue in error.issues]
    return error.issues[0]


# ---------------------------------------------------------------- the default policy


def test_the_demo_county_policy_ships_as_package_data_and_parses():
    policy = DEFAULT
    assert policy.label == "zhashui@1"
    assert (policy.county, policy.effective) == ("611026", date(2026, 1, 1))
    assert policy.yellow_share == Fraction(2, 3)
    assert len(policy.sha256) == 64


def test_the_default_policy_has_every_level_and_complexity_and_a_claim_override_at_the_village():
    for level in HandlingLevel:
        for complexity in Complexity:
            target = DEFAULT.target_for(level, complexity, Kind.CIVIL_DISPUTE)
            assert target.kind is None
            assert target.rule_id == f"time.{level.value}.{complexity.value}"
    village = DEFAULT.target_for(HandlingLevel.VILLAGE, Complexity.ORDINARY, Kind.CIVIL_DISPUTE)
    assert (village.days, village.unit) == (7, DayUnit.CALENDAR)
    claim = DEFAULT.target_for(HandlingLevel.VILLAGE, Complexity.ORDINARY, Kind.CLAIM)
    assert (claim.days, claim.unit, claim.rule_id) == (5, DayUnit.WORKING, "time.village.claim.ordinary")
    # Only the ordinary complexity is overridden for claims: the others fall back.
    assert DEFAULT.target_for(HandlingLevel.VILLAGE, Complexity.SIMPLE, Kind.CLAIM).kind is None


def test_the_default_policy_sends_violence_straight_to_the_county_and_everything_else_one_level():
    risk = {trigger.condition: trigger for trigger in DEFAULT.risk}
    assert set(risk) == set(Condition)
    assert (risk[Condition.VIOLENCE_RISK].to_level, risk[Condition.VIOLENCE_RISK].at_once) == (
        HandlingLevel.COUNTY,
        True,
    )
    for condition in set(Condition) - {Condition.VIOLENCE_RISK}:
        assert (risk[condition].to_level, risk[condition].at_once) == (HandlingLevel.TOWNSHIP, False)
    failure = {trigger.failure: trigger.levels for trigger in DEFAULT.failure}
    assert failure == {
        Failure.MEDIATION_FAILED: {HandlingLevel.VILLAGE, HandlingLevel.TOWNSHIP},
        Failure.MEDIATION_REFUSED: {HandlingLevel.VILLAGE},
    }


def test_the_default_policy_names_review_organs_and_notification_recipients():
    review = DEFAULT.dissatisfaction.review
    assert set(review) == set(ReviewOrgan)
    assert review[ReviewOrgan.ABOVE_COUNTY].organ == "商洛市人民政府"
    assert set(DEFAULT.dissatisfaction.rereview) == {ReviewOrgan.COUNTY, ReviewOrgan.ABOVE_COUNTY}
    assert DEFAULT.notify[NotifyEvent.RED] == (Recipient.HANDLER, Recipient.HANDLER_LEADER, Recipient.BAOAN_LEADER)
    assert DEFAULT.supervision.after_red_days == 2 and DEFAULT.supervision.unit is DayUnit.WORKING
    assert "mediation" not in DEFAULT.supervision.clocks  # a soft target: warn, never supervise
    assert DEFAULT.reminders.lead_days == (3, 1)


def test_the_complexity_rule_checks_conditions_then_categories_then_the_default():
    rule = DEFAULT.complexity
    assert rule.classify("neighbourhood", []) == (Complexity.SIMPLE, "category:neighbourhood")
    assert rule.classify("neighbourhood", [Condition.COLLECTIVE]) == (Complexity.COMPLEX, "condition:collective")
    assert rule.classify("land_acquisition", []) == (Complexity.COMPLEX, "category:land_acquisition")
    assert rule.classify("contract", []) == (Complexity.ORDINARY, "default")
    # High risk is a trigger in the default policy, not a reason to call the case complex.
    assert rule.classify("contract", [Condition.HIGH_RISK]) == (Complexity.ORDINARY, "default")


def test_the_statutory_yellow_share_is_the_one_the_deadline_light_uses_by_default():
    started = datetime(2025, 3, 3, tzinfo=CHINA_TZ)
    due = Due(date(2025, 3, 5), provisional=False)  # ends Mar 6 00:00: 72 hours
    before = started + timedelta(hours=48) - timedelta(microseconds=1)
    assert light(before, started, due) is Light.GREEN
    assert light(before + timedelta(microseconds=1), started, due) is Light.YELLOW
    assert Fraction(2, 3) == STATUTORY_YELLOW_SHARE
    assert DEFAULT.statutory_yellow_share() == Fraction(2, 3)


def test_the_working_day_ceiling_never_outlasts_sixty_calendar_days_on_the_official_calendar():
    # Every start day of 2004-2026: the WORKING_DAYS_CEILING-th working day after it lies
    # within 60 calendar days; two more working days do not always (the bound is tight).
    first, last = date(2004, 1, 1), date(2026, 12, 31)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    working = [day.toordinal() for day in days if CAL.is_working_day(day)]

    def worst_span(count: int) -> int:
        worst = 0
        for day in days:
            index = bisect.bisect_right(working, day.toordinal()) + count - 1
            if index >= len(working):
                break
            worst = max(worst, working[index] - day.toordinal())
        return worst

    assert worst_span(WORKING_DAYS_CEILING) <= CALENDAR_DAYS_CEILING == HANDLING_DAYS
    assert worst_span(WORKING_DAYS_CEILING + 2) > CALENDAR_DAYS_CEILING
    # Spot check against grid.deadlines: Spring Festival 2026 inside the span.
    start = datetime(2026, 1, 20, 10, tzinfo=CHINA_TZ)
    span = working_days_period(CAL, start, WORKING_DAYS_CEILING).last_day - start.date()
    assert span.days <= CALENDAR_DAYS_CEILING


def test_the_demo_county_policy_is_valid_toml_without_the_validator():
    assert tomllib.loads(DEFAULT_TEXT)["policy"]["id"] == "zhashui"


# ---------------------------------------------------------------- validation: lines and rules


def test_a_toml_syntax_error_names_its_line():
    text = mutate("hour = 9", "hour = = 9")
    issue = only_issue(text)
    assert (issue.rule, issue.line) == ("toml.syntax", line_of(text, "hour = = 9"))


def test_an_unknown_key_is_refused_with_its_line_because_a_typo_would_drop_a_rule():
    text = mutate('yellow_share = "2/3"', 'yelow_share = "2/3"')
    error = refused(text)
    rules = {(issue.rule, issue.key, issue.line) for issue in error.issues}
    assert ("key.unknown", "lights.yelow_share", line_of(text, "yelow_share")) in rules
    assert ("key.required", "lights.yellow_share", line_of(text, "[lights]")) in rules


def test_a_missing_key_is_reported_at_its_table_header():
    text = mutate('reminder = ["handler"]\n', "")
    issue = only_issue(text)
    assert (issue.rule, issue.key, issue.line) == ("key.required", "notify.reminder", line_of(text, "[notify]"))


def test_a_missing_top_level_table_has_no_line_but_names_the_table():
    start = DEFAULT_TEXT.index("[reminders]")
    end = DEFAULT_TEXT.index("# 排查")
    issue = only_issue(DEFAULT_TEXT[:start] + DEFAULT_TEXT[end:])
    assert (issue.rule, issue.key, issue.line) == ("key.required", "reminders", None)


def test_a_value_of_the_wrong_type_names_the_key_inside_an_inline_table():
    text = mutate('ordinary = { days = 15, unit = "calendar" }', 'ordinary = { days = "15", unit = "calendar" }')
    issue = only_issue(text)
    assert (issue.rule, issue.key) == ("value.type", "targets.township.ordinary.days")
    assert issue.line == line_of(text, 'days = "15"')


def test_a_target_of_zero_days_is_out_of_range():
    text = mutate('simple = { days = 1, unit = "calendar" }', 'simple = { days = 0, unit = "calendar" }')
    issue = only_issue(text)
    assert (issue.rule, issue.key, issue.line) == (
        "value.range",
        "targets.village.simple.days",
        line_of(text, "days = 0"),
    )


def test_an_unknown_unit_names_the_choices():
    text = mutate('simple = { days = 3, unit = "working" }', 'simple = { days = 3, unit = "weeks" }')
    issue = only_issue(text)
    assert (issue.rule, issue.line) == ("value.choice", line_of(text, '"weeks"'))
    assert "calendar" in issue.message and "working" in issue.message


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('county = "611026"', 'county = "6110"', "policy.county"),
        ('id = "zhashui"', 'id = "Zhashui County"', "policy.id"),
    ],
)
def test_a_malformed_identifier_is_refused(old: str, new: str, key: str):
    text = mutate(old, new)
    issue = only_issue(text)
    assert (issue.rule, issue.key, issue.line) == ("value.format", key, line_of(text, new))


def test_an_effective_date_written_as_a_string_is_refused():
    text = mutate("effective = 2026-01-01", 'effective = "2026-01-01"')
    issue = only_issue(text)
    assert (issue.rule, issue.key, issue.line) == ("value.type", "policy.effective", line_of(text, "effective ="))


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        # 61 calendar days: longer than the statutory 60 (条例 Art. 34).
        (
            'ordinary = { days = 7, unit = "calendar" }',
            'ordinary = { days = 61, unit = "calendar" }',
            "targets.village.ordinary.days",
        ),
        # 36 working days may outlast 60 calendar days.
        (
            'complex = { days = 30, unit = "working" }',
            'complex = { days = 36, unit = "working" }',
            "targets.county.complex.days",
        ),
        # A kind-specific override is held to the same ceiling.
        (
            'ordinary = { days = 5, unit = "working" }',
            'ordinary = { days = 90, unit = "calendar" }',
            "targets.village.kinds.claim.ordinary.days",
        ),
    ],
)
def test_a_target_that_would_loosen_the_statutory_handling_clock_is_refused(old: str, new: str, key: str):
    text = mutate(old, new)
    issue = only_issue(text)
    assert (issue.rule, issue.key, issue.line) == ("statutory.target_too_long", key, line_of(text, new))
    assert "60" in issue.message


def test_targets_at_the_statutory_ceiling_are_accepted():
    text = mutate('complex = { days = 20, unit = "calendar" }', 'complex = { days = 60, unit = "calendar" }')
    text = mutate('complex = { days = 30, unit = "working" }', 'complex = { days = 35, unit = "working" }', text)
    policy = parse_policy(text)
    assert policy.target_for(HandlingLevel.VILLAGE, Complexity.COMPLEX, Kind.CLAIM).days == 60
    assert policy.target_for(HandlingLevel.COUNTY, Complexity.COMPLEX, Kind.CLAIM).days == 35


@pytest.mark.parametrize("share", ['"1"', '"3/2"', "1.0", '"0"', '"-1/3"'])
def test_a_yellow_share_that_never_warns_before_the_deadline_is_refused(share: str):
    text = mutate('yellow_share = "2/3"', f"yellow_share = {share}")
    issue = only_issue(text)
    assert (issue.rule, issue.key, issue.line) == ("statutory.yellow_share", "lights.yellow_share", 15)
    assert issue.line == line_of(text, "yellow_share =")


@pytest.mark.parametrize(("share", "expected"), [('"1/2"', Fraction(1, 2)), ("0.9", Fraction(9, 10))])
def test_a_yellow_share_may_be_a_fraction_or_a_decimal(share: str, expected: Fraction):
    policy = parse_policy(mutate('yellow_share = "2/3"', f"yellow_share = {share}"))
    assert policy.yellow_share == expected
    # Statutory clocks still warn at 2/3 at the latest.
    assert policy.statutory_yellow_share() == min(expected, Fraction(2, 3))


def test_a_yellow_share_that_is_not_a_number_is_a_type_error():
    issue = only_issue(mutate('yellow_share = "2/3"', 'yellow_share = "two thirds"'))
    assert issue.rule == "value.type"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('red = ["handler", "handler_leader", "baoan_leader"]', 'red = ["handler", "handler_leader"]'),
        ('yellow = ["handler"]', 'yellow = ["handler_leader"]'),
    ],
)
def test_a_light_must_reach_the_people_the_domain_requires(old: str, new: str):
    text = mutate(old, new)
    issue = only_issue(text)
    assert (issue.rule, issue.line) == ("statutory.notify_floor", line_of(text, new))


def test_an_unknown_recipient_names_its_position_in_the_list():
    text = mutate('reminder = ["handler"]', 'reminder = ["handler", "mayor"]')
    issue = only_issue(text)
    assert (issue.rule, issue.key, issue.line) == ("value.choice", "notify.reminder[1]", line_of(text, '"mayor"'))


def test_a_risk_trigger_cannot_send_a_case_to_the_village():
    text = mutate('[risk.high_risk]\nto = "township"', '[risk.high_risk]\nto = "village"')
    issue = only_issue(text)
    assert (issue.rule, issue.key, issue.line) == ("value.choice", "risk.high_risk.to", line_of(text, 'to = "village"'))


def test_an_unknown_risk_condition_is_an_unknown_key():
    text = mutate("[risk.collective]", "[risk.crowd]")
    issue = only_issue(text)
    assert (issue.rule, issue.key, issue.line) == ("key.unknown", "risk.crowd", line_of(text, "[risk.crowd]"))


def test_a_failure_trigger_at_the_county_has_no_level_above():
    text = mutate(
        '[failure.mediation_failed]\nlevels = ["village", "township"]',
        '[failure.mediation_failed]\nlevels = ["village", "county"]',
    )
    issue = only_issue(text)
    assert (issue.rule, issue.key) == ("trigger.no_level_above", "failure.mediation_failed.levels[1]")
    assert issue.line == line_of(text, 'levels = ["village", "county"]')


def test_a_category_cannot_be_both_simple_and_complex():
    text = mutate('simple_categories = ["neighbourhood"', 'simple_categories = ["pollution", "neighbourhood"')
    issue = only_issue(text)
    assert (issue.rule, issue.key) == ("complexity.conflict", "complexity.simple_categories[0]")
    assert issue.line == line_of(text, "simple_categories")


def test_a_duplicate_list_entry_is_refused():
    text = mutate("lead_days = [3, 1]", "lead_days = [3, 1, 3]")
    issue = only_issue(text)
    assert (issue.rule, issue.key, issue.line) == (
        "value.duplicate",
        "reminders.lead_days[2]",
        line_of(text, "lead_days"),
    )


def test_an_element_of_a_multi_line_array_is_reported_on_its_own_line():
    text = mutate(
        'clocks = ["stage", "notice", "dispatch", "handling", "review_decision", "rereview_decision"]',
        'clocks = [\n    "stage",\n    "handling",\n    "review_request",  # a petitioner window\n]',
    )
    issue = only_issue(text)
    assert (issue.rule, issue.key) == ("value.choice", "supervision.clocks[2]")
    assert issue.line == line_of(text, '"review_request"')


def test_the_second_sensitive_period_is_found_in_its_own_array_table():
    text = mutate("from = 2026-09-25\nto = 2026-10-10", "from = 2026-10-25\nto = 2026-10-10")
    issue = only_issue(text)
    assert (issue.rule, issue.key, issue.line) == (
        "screening.range_order",
        "screening.sensitive[1].to",
        line_of(text, "to = 2026-10-10"),
    )


def test_overlapping_sensitive_periods_of_one_level_are_refused():
    text = mutate("from = 2026-09-25", "from = 2026-03-10")
    issue = only_issue(text)
    assert (issue.rule, issue.key, issue.line) == (
        "screening.overlap",
        "screening.sensitive[1].from",
        line_of(text, "from = 2026-03-10"),
    )


def test_a_sensitive_period_may_not_report_less_often_than_usual():
    text = mutate('cadence = "weekly"\nlevels = ["village", "township"]', 'cadence = "monthly"\nlevels = ["village"]')
    issue = only_issue(text)
    assert (issue.rule, issue.key, issue.line) == (
        "screening.sensitive_looser",
        "screening.sensitive[0].cadence",
        line_of(text, 'cadence = "monthly"'),
    )


def test_every_broken_rule_is_reported_at_once_in_line_order():
    text = mutate('yellow_share = "2/3"', 'yellow_share = "1"')
    text = mutate("hour = 9", "hour = 24", text)
    text = mutate('ordinary = { days = 7, unit = "calendar" }', 'ordinary = { days = 70, unit = "calendar" }', text)
    error = refused(text)
    assert [(issue.rule, issue.line) for issue in error.issues] == [
        ("statutory.yellow_share", line_of(text, "yellow_share")),
        ("statutory.target_too_long", line_of(text, "days = 70")),
        ("value.range", line_of(text, "hour = 24")),
    ]
    assert error.data["rule"] == "statutory.yellow_share"
    assert error.data["line"] == line_of(text, "yellow_share")
    assert [issue["rule"] for issue in error.data["issues"]] == [issue.rule for issue in error.issues]
    assert error.message.startswith(f"升级规则文件有误：第{line_of(text, 'yellow_share')}行 lights.yellow_share")
    assert "另有2处" in error.message


MINIMAL = """
[policy]
id = "t"
version = 2
effective = 2026-01-01
county = "611026"
'name' = "测试 [不是表] = 也不是键"

[lights]
yellow_share = 0.5

[complexity]
default = "ordinary"

[targets]
village.simple = { days = 1, unit = "calendar" }
village.ordinary = { days = 7, unit = "calendar" }
village.complex = { days = 20, unit = "calendar" }
township = { simple = { days = 1, unit = "calendar" }, ordinary = { days = 1, unit = "calendar" }, \
complex = { days = 1, unit = "calendar" } }

[targets.county.simple]
days = 1
unit = "calendar"

[targets.county.ordinary]
days = 2
unit = "calendar"

[targets.county.complex]
days = 3
unit = "calendar"

[dissatisfaction.review]
township = { organ = \"\"\"镇政府
（多行）\"\"\", notify = ["town_officer"] }
county = { organ = "县政府", notify = ["county_officer"] }
above_county = { organ = "市政府", notify = [] }

[dissatisfaction.rereview]
county = { organ = "县政府", notify = ["county_officer"] }
above_county = { organ = "市政府", notify = [] }

[notify]
yellow = ["handler"]
red = ["handler_leader", "baoan_leader"]
escalated = []
supervision = []
reminder = []

[supervision]
after_red_days = 0
unit = "working"
reply_days = 5
reply_unit = "calendar"

[reminders]

[screening]
village = "weekly"
township = "half_month"
county = "monthly"
"""


def test_a_minimal_policy_with_dotted_quoted_and_multi_line_keys_parses_with_defaults():
    policy = parse_policy(MINIMAL)
    assert policy.label == "t@2"
    assert policy.name == "测试 [不是表] = 也不是键"
    assert policy.risk == () and policy.failure == ()
    assert policy.reminders.lead_days == (1,) and policy.reminders.hour == 9
    assert policy.screening.grace_working_days == 0
    assert policy.dissatisfaction.on_dissatisfied == ()
    # Zero days of red before 督办 means at once, whatever the unit.
    assert policy.supervision.after_red_days == 0 and policy.supervision.unit is DayUnit.CALENDAR
    assert policy.target_for(HandlingLevel.COUNTY, Complexity.COMPLEX, Kind.CLAIM).days == 3


def test_lines_are_right_after_dotted_keys_multi_line_strings_and_sub_tables():
    text = MINIMAL.replace("days = 2\n", "days = -2\n")
    issue = only_issue(text)
    assert (issue.key, issue.line) == ("targets.county.ordinary.days", line_of(text, "days = -2"))
    text = MINIMAL.replace(
        'village.complex = { days = 20, unit = "calendar" }', 'village.complex = { days = 20, unit = "x" }'
    )
    issue = only_issue(text)
    assert (issue.key, issue.line) == ("targets.village.complex.unit", line_of(text, 'unit = "x"'))
    # After the multi-line string the scanner is still in step.
    text = MINIMAL.replace('notify = ["county_officer"]', 'notify = ["sheriff"]', 1)  # review.county
    issue = only_issue(text)
    assert (issue.key, issue.line) == ("dissatisfaction.review.county.notify[0]", line_of(text, '"sheriff"'))


def test_a_kind_override_without_any_target_is_refused():
    text = mutate(
        '[targets.village.kinds.claim]\nordinary = { days = 5, unit = "working" }', "[targets.village.kinds.claim]"
    )
    issue = only_issue(text)
    assert (issue.rule, issue.key, issue.line) == (
        "key.required",
        "targets.village.kinds.claim",
        line_of(text, "[targets.village.kinds.claim]"),
    )


def test_an_unknown_kind_override_is_refused():
    text = mutate("[targets.village.kinds.claim]", "[targets.village.kinds.petition]")
    issue = only_issue(text)
    assert (issue.rule, issue.key) == ("key.unknown", "targets.village.kinds.petition")


# ---------------------------------------------------------------- 排查 cadence


def test_village_reports_every_half_month_and_weekly_during_the_two_sessions():
    periods = DEFAULT.screening_periods(HandlingLevel.VILLAGE, date(2026, 2, 1), date(2026, 3, 31), CAL)
    spans = [(p.start.isoformat(), p.end.isoformat(), p.cadence.value, p.sensitive) for p in periods]
    assert spans == [
        ("2026-02-01", "2026-02-15", "half_month", None),
        ("2026-02-16", "2026-02-28", "half_month", None),
        # Sensitive period Mar 1 (Sunday) - Mar 15: weeks cut at its edges.
        ("2026-03-01", "2026-03-01", "weekly", "全国两会"),
        ("2026-03-02", "2026-03-08", "weekly", "全国两会"),
        ("2026-03-09", "2026-03-15", "weekly", "全国两会"),
        ("2026-03-16", "2026-03-31", "half_month", None),
    ]


def test_a_report_is_due_two_working_days_after_its_period_across_spring_festival_2026():
    [february] = [
        p
        for p in DEFAULT.screening.periods(HandlingLevel.VILLAGE, date(2026, 2, 1), date(2026, 2, 15), CAL)
        if p.end == date(2026, 2, 15)
    ]
    # Feb 15-23 are off: the two working days after Feb 15 are Tue Feb 24 and Wed Feb 25.
    assert february.due == Due(date(2026, 2, 25), provisional=False)
    assert february.reminders == (datetime(2026, 2, 24, 9, tzinfo=CHINA_TZ),)


def test_the_county_reports_monthly_and_weekly_around_national_day():
    periods = DEFAULT.screening.periods(HandlingLevel.COUNTY, date(2026, 9, 1), date(2026, 10, 31), CAL)
    assert [(p.start.day, p.end.day, p.cadence) for p in periods] == [
        (1, 24, Cadence.MONTHLY),
        (25, 27, Cadence.WEEKLY),
        (28, 4, Cadence.WEEKLY),
        (5, 10, Cadence.WEEKLY),
        (11, 31, Cadence.MONTHLY),
    ]


def test_a_report_due_on_a_rest_day_rolls_over_without_grace():
    policy = parse_policy(MINIMAL)
    [week] = policy.screening.periods(HandlingLevel.VILLAGE, date(2025, 9, 29), date(2025, 10, 5), CAL)
    # Week Sep 29 - Oct 5 ends inside National Day 2025: due on Thu Oct 9.
    assert (week.start, week.end, week.due.last_day) == (date(2025, 9, 29), date(2025, 10, 5), date(2025, 10, 9))


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(list(HandlingLevel)),
    st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 1)),
    st.integers(1, 200),
)
def test_screening_periods_cover_every_day_exactly_once(level, start, length):
    end = start + timedelta(days=length)
    periods = DEFAULT.screening.periods(level, start, end, CAL)
    assert periods[0].start <= start and periods[-1].end >= end
    for before, after in itertools.pairwise(periods):
        assert after.start == before.end + timedelta(days=1)
    for period in periods:
        assert period.start <= period.end
        assert period.due.last_day >= period.end
        cadence, sensitive = DEFAULT.screening.cadence_on(level, period.start)
        assert (cadence, sensitive.name if sensitive else None) == (period.cadence, period.sensitive)
        assert DEFAULT.screening.cadence_on(level, period.end)[0] is period.cadence


def test_supervision_after_two_working_days_of_red_skips_the_national_day_holiday():
    # Red from Oct 1 00:00 (last day Sep 30): two working days later is the end of Oct 10
    # (Oct 1-8 are off, Oct 9 and 10 are working days).
    red_at = datetime(2025, 10, 1, tzinfo=CHINA_TZ)
    assert DEFAULT.supervision.opens_at(CAL, red_at) == datetime(2025, 10, 11, tzinfo=CHINA_TZ)


def test_the_documented_example_is_the_shipped_default_policy():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "escalation-policy.md").read_text(encoding="utf-8")
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    assert example == DEFAULT_TEXT
    for rule in RULE_CODES:
        assert f"`{rule}`" in doc, rule


# Every rule code the validator can report (the doc's table lists each).
RULE_CODES = [
    "toml.syntax",
    "key.unknown",
    "key.required",
    "value.type",
    "value.range",
    "value.choice",
    "value.format",
    "value.duplicate",
    "complexity.conflict",
    "trigger.no_level_above",
    "statutory.target_too_long",
    "statutory.yellow_share",
    "statutory.notify_floor",
    "screening.range_order",
    "screening.overlap",
    "screening.sensitive_looser",
]


def test_the_rule_code_list_is_every_code_the_parser_uses():
    source = (Path(__file__).resolve().parents[2] / "grid" / "policy.py").read_text(encoding="utf-8")
    used = set(re.findall(r'"((?:toml|key|value|complexity|trigger|statutory|screening)\.[a-z_]+)"', source))
    assert used == set(RULE_CODES)
