"""The statistics as a document: the monthly (or quarterly) report and the annual report
of 信访工作条例 Art. 41, HTML from Jinja templates with inline SVG charts, then PDF/A-3b.

Both take the figures as :meth:`reports.statistics.Statistics.to_json` gives them (or as
stored), and the PDF carries those figures inside as ``statistics.json`` (relationship
Data), so a reader can take the numbers out of the very file a leader signed off.
:func:`render_statistics_pdf` is module-level with plain arguments: it runs in the render
process pool.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from grid.calendar import CHINA_TZ
from grid.cases import Kind
from reports import charts
from reports.render import PdfAttachment, package_path, render_pdf
from reports.statistics import BREAKDOWN_NAMES_ZH, RATE_NAMES_ZH, chart_data

TITLES_ZH = {"month": "矛盾纠纷排查化解工作月报", "quarter": "矛盾纠纷排查化解工作季报", "year": "信访工作年度报告"}
ATTACHMENT_NAME = "statistics.json"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(package_path("templates")),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def report_title(figures: Mapping[str, Any]) -> str:
    return f"{figures['region']['name']}{TITLES_ZH[figures['period']['kind']]}"


def _percent(rate: Mapping[str, Any]) -> str:
    value = rate["rate"]
    return "—" if value is None else f"{value * 100:.1f}%"


def chart_svgs(figures: Mapping[str, Any]) -> dict[str, str]:
    data = chart_data(figures)
    step = "日" if figures["period"]["kind"] == "month" else "月"
    return {
        "rates": charts.bar_chart(data.rates, title="主要指标", unit="%", maximum=100),
        "trend": charts.line_chart(
            data.trend_labels,
            [("信访事项", data.trend_petitions), ("民间纠纷", data.trend_disputes)],
            title=f"逐{step}登记件数",
        ),
        "categories": charts.bar_chart(data.categories, title="按纠纷类别登记件数"),
        "units": charts.bar_chart(data.units, title="各地登记件数", color=charts.PALETTE[2]),
    }


# Full-width marks whose glyphs sit at the end of the Noto CJK fonts (see statistics.css).
COSTLY_MARKS = re.compile("([，。、：；？！])")
_TAG_OR_TEXT = re.compile(r"(<style.*?</style>|<svg.*?</svg>|<[^>]+>)", re.S)


def serif_marks(html: str) -> str:
    """Wrap each costly mark of the text (not of styles, tags or charts) in span.p, so only
    the Serif face ever carries those glyphs."""
    parts = _TAG_OR_TEXT.split(html)
    return "".join(
        part if index % 2 else COSTLY_MARKS.sub(r'<span class="p">\1</span>', part) for index, part in enumerate(parts)
    )


def report_html(figures: Mapping[str, Any]) -> str:
    kind = figures["period"]["kind"]
    template = _environment().get_template("statistics/annual.html" if kind == "year" else "statistics/monthly.html")
    counts, rates = figures["counts"], figures["rates"]
    registered = counts["registered"]
    petitions = sum(item["count"] for item in figures["breakdowns"]["kind"] if item["code"] != Kind.CIVIL_DISPUTE.value)
    as_of = datetime.fromisoformat(figures["as_of"]).astimezone(CHINA_TZ)
    html = template.render(
        title=report_title(figures),
        css=package_path("templates", "statistics", "statistics.css").read_text(encoding="utf-8"),
        f=figures,
        c=counts,
        r=rates,
        a=figures["annual"],
        petitions=petitions,
        disputes=registered - petitions,
        as_of_zh=f"{as_of:%Y年%m月%d日 %H:%M}",
        rate_names=list(RATE_NAMES_ZH.items()),
        breakdown_names=list(BREAKDOWN_NAMES_ZH.items()),
        charts=chart_svgs(figures),
        pct=lambda key: _percent(rates[key]),
        rate_pct=_percent,
        share=lambda count: f"{100 * count / registered:.1f}%" if registered else "—",
    )
    return serif_marks(html)


def document_identifier(figures: Mapping[str, Any]) -> str:
    return f"fengqiao:statistics:{figures['region']['code']}:{figures['period']['key']}:{figures['as_of']}"


def render_statistics_pdf(figures: dict[str, Any]) -> bytes:
    """The report as PDF/A-3b with the figures inside; the same figures give the same bytes."""
    data = json.dumps(figures, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    return render_pdf(
        report_html(figures),
        identifier=document_identifier(figures),
        title=f"{report_title(figures)}（{figures['period']['label']}）",
        created=datetime.fromisoformat(figures["as_of"]),
        attachments=(
            PdfAttachment(
                name=ATTACHMENT_NAME,
                data=data,
                mime="application/json",
                description="本报告的全部统计数据（JSON）",
            ),
        ),
    )
