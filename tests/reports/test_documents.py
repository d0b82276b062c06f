"""reports.documents: which documents a case has, and what each says (real WeasyPrint, real qpdf)."""

from __future__ import annotations

from functools import cache

import pytest

from reports.documents import (
    KINDS,
    UnknownKind,
    applicable_kinds,
    document_date,
    document_html,
    kind_of,
    render_document,
)
from tests.reports.pdfcheck import assert_archival, page_texts, text_of
from tests.reports.samples import (
    FULL_ID_NUMBER,
    MASKED_ID_NUMBER,
    declined_case,
    mediated_case,
    petition_case,
    with_full_identity,
)

SLUGS = [
    "registration_form",
    "acceptance_notice",
    "rejection_notice",
    "referral_slip",
    "mediation_record",
    "mediation_agreement",
    "handling_opinion",
    "extension_notice",
    "review_opinion",
    "rereview_opinion",
    "supervision_slip",
    "follow_up_record",
]
SAMPLES = {"mediated": mediated_case, "petition": petition_case, "declined": declined_case}


@cache
def pdf_of(sample: str, slug: str) -> bytes:
    return render_document(slug, SAMPLES[sample]())


def flat(text: str) -> str:
    # Table cells wrap lines anywhere: compare without line breaks.
    return text.replace("\n", "").replace(" ", "")


def test_should_register_exactly_the_twelve_kinds_with_chinese_titles() -> None:
    assert sorted(kind.slug for kind in KINDS) == sorted(SLUGS)
    titles = {kind.slug: kind.title for kind in KINDS}
    assert titles["mediation_agreement"] == "调解协议书"
    assert titles["handling_opinion"] == "信访处理意见书"
    assert titles["referral_slip"] == "转送/交办单"
    assert all(title and not title.isascii() for title in titles.values())


def test_should_offer_only_the_documents_a_case_has_the_facts_for_in_date_order() -> None:
    assert [kind.slug for kind in applicable_kinds(mediated_case())] == [
        "registration_form",
        "acceptance_notice",
        "mediation_record",
        "mediation_agreement",
        "follow_up_record",
    ]
    assert [kind.slug for kind in applicable_kinds(petition_case())] == [
        "registration_form",
        "acceptance_notice",
        "supervision_slip",
        "extension_notice",
        "handling_opinion",
        "review_opinion",
        "rereview_opinion",
    ]
    assert [kind.slug for kind in applicable_kinds(declined_case())] == [
        "registration_form",
        "referral_slip",
        "rejection_notice",
    ]


def test_should_refuse_an_unknown_kind_and_a_kind_the_case_has_no_facts_for() -> None:
    with pytest.raises(UnknownKind):
        kind_of("no_such_document")
    with pytest.raises(ValueError, match="does not apply"):
        document_html("handling_opinion", mediated_case())


CASES = [(sample, kind.slug) for sample, make in SAMPLES.items() for kind in applicable_kinds(make())]


@pytest.mark.parametrize(("sample", "slug"), CASES, ids=[f"{sample}-{slug}" for sample, slug in CASES])
def test_should_render_every_document_as_archival_pdf_with_the_case_number_and_names(sample: str, slug: str) -> None:
    pdf = pdf_of(sample, slug)
    assert_archival(pdf)
    text = flat(text_of(pdf))
    data = SAMPLES[sample]()
    assert "王堃" in text
    assert (data.case["number"] or "（未编号）") in text
    # Masked unless generated for the parties: the masked number, never the full one.
    assert FULL_ID_NUMBER not in text
    assert "已按规定脱敏" in text


def test_should_put_every_content_item_of_article_29_in_the_mediation_agreement() -> None:
    text = flat(text_of(pdf_of("mediated", "mediation_agreement")))
    for expected in (
        "人民调解协议书",
        "当事人的基本情况",
        "王堃",
        "李喆",
        MASKED_ID_NUMBER,
        "纠纷的主要事实、争议事项以及各方当事人的责任",
        "被申请人在两家之间的通道上搭建柴棚",
        "请求对方拆除占用通道的柴棚",
        "当事人达成调解协议的内容，履行的方式、期限",
        "李喆于2026年3月20日前自行拆除柴棚",
        "被申请人自行拆除",
        "2026年3月20日前",
        "本协议一式3份",
        "签名、盖章或按指印",
        "人民调解员（签名）",
        "仁和社区人民调解委员会（印章）",
        "本协议于2026年3月5日生效",
        "三十日内共同向人民法院申请司法确认",
    ):
        assert expected in text, expected


def test_should_state_request_facts_decision_basis_and_the_review_window_in_the_handling_opinion() -> None:
    pdf = pdf_of("petition", "handling_opinion")
    text = flat(text_of(pdf))
    for expected in (
        "乾佑街道办事处",
        "信访事项处理意见书",
        "信访请求",
        "要求将争议宅基地确权至本人名下",
        "经调取1988年宅基地登记档案并实地测量",
        "不予支持",
        "《中华人民共和国土地管理法》第六十二条",
        "自收到本意见书之日起三十日内（2026年6月1日前），向柞水县人民政府请求复查",
        "2026年5月1日",
    ):
        assert expected in text, expected
    # GB/T 9704 page numbers: "— 1 —" at the foot of the text block.
    assert "—1—" in flat(page_texts(pdf)[0])


def test_should_name_the_organs_and_windows_of_review_and_rereview() -> None:
    review = flat(text_of(pdf_of("petition", "review_opinion")))
    assert "柞水县人民政府" in review
    assert "于2026年5月11日提出复查请求" in review
    assert "向商洛市人民政府请求复核" in review
    assert "2026年7月1日前" in review
    rereview = flat(text_of(pdf_of("petition", "rereview_opinion")))
    assert "商洛市人民政府" in rereview
    assert "本复核意见为终结意见" in rereview
    assert "不再受理" in rereview


def test_should_tell_the_reason_days_and_new_last_day_in_the_extension_notice() -> None:
    text = flat(text_of(pdf_of("petition", "extension_notice")))
    for expected in ("需要调取历史档案并实地测量", "陈主任", "延长30日", "2026年5月1日前办结", "第三十四条"):
        assert expected in text, expected


def test_should_record_the_supervision_its_reply_and_the_referral() -> None:
    supervision = flat(text_of(pdf_of("petition", "supervision_slip")))
    for expected in ("信访事项督办单", "办理进度滞后", "2026年4月10日前", "第四十条", "已调取档案，正组织测量"):
        assert expected in supervision, expected
    referral = flat(text_of(pdf_of("declined", "referral_slip")))
    assert "信访事项交办单" in referral
    assert "仁和社区居民委员会" in referral
    rejection = flat(text_of(pdf_of("declined", "rejection_notice")))
    assert "该事项已经人民法院判决" in rejection
    assert "《信访工作条例》第三十一条" in rejection


def test_should_show_sessions_and_follow_ups_with_their_dates() -> None:
    record = flat(text_of(pdf_of("mediated", "mediation_record")))
    assert "仁和社区调解室" in record
    assert "被申请人同意拆除柴棚" in record
    assert "2026年3月5日" in record
    follow_up = flat(text_of(pdf_of("mediated", "follow_up_record")))
    assert "柴棚已拆除，通道恢复通行" in follow_up
    assert "回访（确认协议已履行）" in follow_up
    assert "满意" in follow_up


def test_should_print_the_full_identity_only_in_the_document_for_the_parties() -> None:
    full = render_document("mediation_agreement", with_full_identity(mediated_case()))
    text = flat(text_of(full))
    assert FULL_ID_NUMBER in text
    assert "13812341234" in text
    assert "已按规定脱敏" not in text
    masked = flat(text_of(pdf_of("mediated", "mediation_agreement")))
    assert MASKED_ID_NUMBER in masked
    assert FULL_ID_NUMBER not in masked
    assert full != pdf_of("mediated", "mediation_agreement")


def test_should_date_a_document_by_its_event_and_give_the_same_bytes_again() -> None:
    data = petition_case()
    assert document_date("handling_opinion", data).isoformat() == "2026-05-01T09:00:00+08:00"
    assert render_document("handling_opinion", data) == pdf_of("petition", "handling_opinion")
