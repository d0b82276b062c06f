"""reports.casefile: cover, contents with the right page numbers, every document, the timeline."""

from __future__ import annotations

import json
import re
from functools import cache

from reports.casefile import CASE_JSON, casefile_date, render_casefile
from reports.documents import applicable_kinds
from tests.reports.pdfcheck import assert_archival, embedded_files, page_texts, reader
from tests.reports.samples import petition_case

# The first page of each document, told apart by the words that open it.
HEADINGS = {
    "registration_form": "信访事项登记表",
    "acceptance_notice": "信访事项受理告知书",
    "supervision_slip": "信访事项督办单",
    "extension_notice": "信访事项延期办理告知书",
    "handling_opinion": "信访事项处理意见书",
    "review_opinion": "信访事项复查意见书",
    "rereview_opinion": "信访事项复核意见书",
}
ROW = re.compile(r"^(\d+) (\S+) (\S+) (\d{4}年\d{1,2}月\d{1,2}日) (\d+)$")


@cache
def casefile() -> bytes:
    return render_casefile(petition_case())


def test_should_be_archival_with_the_case_inside_as_json() -> None:
    pdf = casefile()
    assert_archival(pdf)
    files = embedded_files(pdf)
    assert set(files) == {CASE_JSON}
    assert files[CASE_JSON].relationship == "/Data"
    assert files[CASE_JSON].mime == "/application/json"
    assert files[CASE_JSON].in_af
    assert json.loads(files[CASE_JSON].data) == petition_case().case


def test_should_list_every_document_with_the_page_it_starts_on() -> None:
    pages = page_texts(casefile())
    assert "案卷" in pages[0] and "611026001001-2026-0012" in pages[0]
    contents = [ROW.match(line) for line in pages[1].splitlines()]
    rows = [match.groups() for match in contents if match]
    titles = [kind.title for kind in applicable_kinds(petition_case())]
    assert [row[2] for row in rows] == [*titles, "办理过程记录（时间线）"]
    # Page numbers count from the first document: the cover and contents are unnumbered.
    for (_, _, title, _, page), kind in zip(rows, applicable_kinds(petition_case()), strict=False):
        first_page = next(index for index, text in enumerate(pages) if HEADINGS[kind.slug] in text) - 1
        assert int(page) == first_page, title
        assert f"第 {page} 页" in pages[first_page + 1] or f"— {page} —" in pages[first_page + 1]
    timeline_page = next(index for index, text in enumerate(pages) if "办理过程记录\n" in text) - 1
    assert int(rows[-1][4]) == timeline_page


def test_should_end_with_the_full_timeline() -> None:
    text = "".join(page_texts(casefile())[-3:]).replace("\n", "")
    for entry in petition_case().timeline:
        assert entry["kind_name"] in text
        if entry["reason"]:
            assert entry["reason"] in text
    assert "机关：商洛市人民政府" in text


def test_should_be_dated_by_its_last_change_and_give_the_same_bytes_again() -> None:
    data = petition_case()
    assert casefile_date(data).isoformat() == "2026-06-30T09:00:00+08:00"
    assert render_casefile(data) == casefile()
    assert reader(casefile()).metadata["/CreationDate"] == "D:20260630090000+08'00"
