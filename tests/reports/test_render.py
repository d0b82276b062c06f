"""reports.render: PDF/A-3b, fixed identity and dates, attachments, same bytes every time."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from reports.fonts import font_problems
from reports.render import PdfAttachment, RenderPool, document_id, layout, render_pdf, write_pdf
from tests.reports.pdfcheck import (
    assert_archival,
    embedded_files,
    fonts_of,
    rasterize,
    reader,
    text_of,
    xmp_of,
)

CREATED = datetime(2026, 12, 4, 10, 30, tzinfo=timezone(timedelta(hours=8)))
HTML = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<style>@page { size: A4; margin: 2cm } body { font-family: "Noto Serif CJK SC" }
h1 { font-family: "Noto Sans CJK SC"; font-weight: bold }</style></head>
<body><h1>人民调解协议书</h1><p>当事人：王堃、李喆、𠮷田花子。案号：柞调〔2026〕12号。</p></body></html>"""
CASE_JSON = '{"case_number": "柞调〔2026〕12号", "parties": ["王堃"]}'.encode()


def attachment() -> PdfAttachment:
    return PdfAttachment(name="case.json", data=CASE_JSON, mime="application/json", description="案件数据")


def render(**overrides) -> bytes:
    arguments = {
        "identifier": "case:0193-test",
        "title": "人民调解协议书",
        "created": CREATED,
        "attachments": [attachment()],
    }
    arguments.update(overrides)
    return render_pdf(HTML, **arguments)


# A module-level function, so the pool (and a second interpreter) can run it.
def render_for_test() -> bytes:
    return render()


def test_should_have_what_documents_need_installed_on_this_machine() -> None:
    assert font_problems() == []


def test_should_name_the_debian_package_when_the_cjk_fonts_are_missing(tmp_path) -> None:
    # A fontconfig that knows no font directory: what a machine without fonts-noto-cjk sees.
    config = tmp_path / "fonts.conf"
    config.write_text('<?xml version="1.0"?><fontconfig><cachedir>' + str(tmp_path) + "</cachedir></fontconfig>")
    code = "from reports.fonts import font_problems; print('\\n'.join(font_problems()))"
    env = {**os.environ, "FONTCONFIG_FILE": str(config)}
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert "fonts-noto-cjk" in shown
    assert "Noto Serif CJK SC" in shown and "Noto Sans CJK SC" in shown
    assert "缺少文书字体" in shown
    assert "libharfbuzz-subset0" not in shown


def test_should_write_pdfa_3b_with_srgb_output_intent_and_subset_embedded_fonts() -> None:
    pdf = render()
    assert_archival(pdf)
    assert pdf.startswith(b"%PDF-1.7")


def test_should_render_rare_name_characters_as_extractable_text_in_the_named_fonts() -> None:
    pdf = render()
    text = text_of(pdf)
    for expected in ("人民调解协议书", "王堃", "李喆", "𠮷田花子", "柞调〔2026〕12号"):
        assert expected in text
    families = {font.name.split("+", 1)[1] for font in fonts_of(pdf)}
    assert families == {"Noto-Serif-CJK-SC", "Noto-Sans-CJK-SC-Bold"}


@pytest.mark.parametrize("renderer", ["poppler", "mupdf"])
def test_should_draw_compact_fonts_exactly_as_weasyprints_own_subsets(renderer: str) -> None:
    # The compact CFF keeps the CIDs the content streams use: any glyph it mapped wrong
    # would change pixels. Latin, CJK, rare characters, bold headings, two pages.
    text = "".join(chr(0x4E00 + (index * 37) % 600) for index in range(2500))
    html = HTML.replace("</p>", f" Fengqiao 2026 ABC xyz {text}</p>")
    plain = write_pdf(layout(html), identifier="x", title="t", created=CREATED, compact_fonts=False)
    compact = write_pdf(layout(html), identifier="x", title="t", created=CREATED)
    assert len(compact) < len(plain) - 50_000  # the empty glyphs of two CJK faces
    assert {font.name for font in fonts_of(compact)} == {font.name for font in fonts_of(plain)}
    plain_pages, compact_pages = rasterize(plain, renderer), rasterize(compact, renderer)
    assert len(plain_pages) == len(compact_pages) == 2
    assert compact_pages == plain_pages
    assert text_of(compact) == text_of(plain)


def test_should_take_dates_and_identifier_from_the_arguments_never_from_the_clock() -> None:
    pdf = render()
    document = reader(pdf)
    info = document.metadata
    assert info["/CreationDate"] == "D:20261204103000+08'00"
    assert info["/ModDate"] == "D:20261204103000+08'00"
    assert info["/Title"] == "人民调解协议书"
    xmp = xmp_of(pdf)
    assert "<xmp:CreateDate>2026-12-04T10:30:00+08:00</xmp:CreateDate>" in xmp
    assert "<xmp:ModifyDate>2026-12-04T10:30:00+08:00</xmp:ModifyDate>" in xmp
    first_id = document.trailer["/ID"][0]
    assert first_id.original_bytes == document_id("case:0193-test")
    assert document_id("case:0193-test") == hashlib.sha256(b"case:0193-test").hexdigest()[:32].encode()
    other = reader(render(identifier="case:other")).trailer["/ID"][0]
    assert other.original_bytes != first_id.original_bytes


def test_should_refuse_a_creation_date_without_a_timezone() -> None:
    with pytest.raises(ValueError, match="timezone"):
        render(created=datetime(2026, 12, 4, 10, 30))


def test_should_embed_attachments_as_associated_files_with_relationship_data() -> None:
    pdf = render()
    files = embedded_files(pdf)
    assert set(files) == {"case.json"}
    case = files["case.json"]
    assert case.data == CASE_JSON
    assert case.mime == "/application/json"
    assert case.relationship == "/Data"
    assert case.in_af
    af = reader(pdf).trailer["/Root"]["/AF"]
    assert len(af) == 1  # listed once, not once per WeasyPrint bookkeeping list


def test_should_embed_several_attachments_each_with_its_own_relationship() -> None:
    source = PdfAttachment("source.html", b"<p>x</p>", "text/html", "HTML source", relationship="Source")
    files = embedded_files(render(attachments=[attachment(), source]))
    assert files["source.html"].relationship == "/Source"
    assert files["source.html"].mime == "/text/html"
    assert files["case.json"].relationship == "/Data"
    assert all(item.in_af for item in files.values())


def test_should_give_the_same_bytes_for_the_same_input_with_the_same_attachment_objects() -> None:
    attachments = [attachment()]
    first = render(attachments=attachments)
    # The same PdfAttachment objects again: a WeasyPrint Attachment would fail here.
    second = render(attachments=attachments)
    assert first == second
    assert render(created=CREATED + timedelta(seconds=1)) != first


def test_should_give_the_same_bytes_in_another_process() -> None:
    here = render()
    code = (
        "import sys; from tests.reports.test_render import render_for_test; sys.stdout.buffer.write(render_for_test())"
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    assert there == here


async def test_should_render_in_a_worker_process_of_the_pool() -> None:
    pool = RenderPool(1, warm_up=False)
    try:
        pdf = await pool.render(render_for_test)
    finally:
        pool.close()
    assert pdf == render()
