"""HTML → PDF/A-3b with WeasyPrint: deterministic bytes, embedded data, off the event loop.

Every document of the project goes through :func:`render_pdf`. Its output depends only on
its arguments: the document identifier (/ID and nothing random), the dates (from
``created``, never the clock) and the attachment dates are fixed, so rendering the same
input twice, in one process or in two, gives the same bytes (an archive digest stays
valid when a document is rendered again).

WeasyPrint 70 writes PDF/A-3b itself (``pdf_variant="pdf/a-3b"``: XMP ``pdfaid``, the
sRGB output intent, /AF); a *finisher* (run on the PDF objects before they are written)
corrects what it leaves loose: the MIME type of an attachment, its AFRelationship, and a
catalog /AF that lists each attachment twice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import hashlib
import io
import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pydyf
from fontTools.cffLib import CFFFontSet
from weasyprint import CSS, HTML, Attachment
from weasyprint.text.ffi import ffi, harfbuzz, harfbuzz_subset
from weasyprint.text.fonts import FontConfiguration

PDF_VARIANT = "pdf/a-3b"
# The producer tool named in the XMP and the Info dictionary beside WeasyPrint's Producer.
GENERATOR = "fengqiao"

T = TypeVar("T")


@dataclass(frozen=True)
class PdfAttachment:
    """A file carried inside the PDF (PDF/A-3 associated file)."""

    name: str  # file name inside the PDF, e.g. "case.json"
    data: bytes
    mime: str  # "application/json"
    description: str
    relationship: str = "Data"  # PDF/A-3 AFRelationship: Data, Source, Alternative, Supplement


def document_id(identifier: str) -> bytes:
    """The first /ID entry: 32 hex digits derived from the caller's identifier, so a
    document keeps its identity across renders (the second entry is a content hash)."""
    return hashlib.sha256(identifier.encode()).hexdigest()[:32].encode()


def _w3c(moment: datetime) -> str:
    # WeasyPrint takes W3C dates; a naive datetime would be written without a zone and read
    # as local time by viewers, so callers must say which zone they mean.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("created must be timezone-aware")
    return moment.replace(microsecond=0).isoformat()


def _stylesheet(source: str) -> CSS:
    # A path to a .css file, or CSS text.
    if source.endswith(".css") and "\n" not in source and "{" not in source:
        return CSS(filename=source)
    return CSS(string=source)


_DROPPED_TABLES = (b"BASE", b"DSIG", b"GPOS", b"GSUB", b"JSTF", b"VORG", b"vhea", b"vmtx")


def _compact_cff(hb_face: Any, cids: set[int]) -> bytes | None:
    """A bare CFF holding only the glyphs ``cids`` of a HarfBuzz face, or None when the
    face is not one this applies to.

    WeasyPrint subsets with HarfBuzz's RETAIN_GIDS so its content streams can use the
    original glyph ids; for a CJK face that keeps tens of thousands of empty glyphs and
    their metrics (≈ 100-150 KB compressed per face, whatever the text). A CID-keyed CFF
    maps CIDs to glyphs through its charset, and in Noto CJK every glyph's CID equals its
    glyph id, so a compact CFF whose charset keeps the CIDs serves the same content
    streams unchanged, embedded as ``FontFile3 /CIDFontType0C`` (how Acrobat embeds CJK
    subsets). HarfBuzz keeps the CIDs when it subsets without RETAIN_GIDS; the charset is
    checked before the font is used, and anything unexpected keeps WeasyPrint's subset.
    """
    if harfbuzz_subset is None:
        return None  # no libharfbuzz-subset0 (reports/fonts.py says so at start-up)
    wanted = sorted(cids | {0})
    plan = ffi.gc(harfbuzz_subset.hb_subset_input_create_or_fail(), harfbuzz_subset.hb_subset_input_destroy)
    glyphs = ffi.new(f"hb_codepoint_t[{len(wanted)}]", wanted)
    harfbuzz.hb_set_add_sorted_array(harfbuzz_subset.hb_subset_input_glyph_set(plan), glyphs, len(wanted))
    drop = sorted(harfbuzz.hb_tag_from_string(tag, -1) for tag in _DROPPED_TABLES)
    drop_array = ffi.new(f"hb_codepoint_t[{len(drop)}]", drop)
    drop_set = harfbuzz_subset.hb_subset_input_set(plan, harfbuzz_subset.HB_SUBSET_SETS_DROP_TABLE_TAG)
    harfbuzz.hb_set_add_sorted_array(drop_set, drop_array, len(drop))
    harfbuzz_subset.hb_subset_input_set_flags(
        plan,
        harfbuzz_subset.HB_SUBSET_FLAGS_DESUBROUTINIZE
        | harfbuzz_subset.HB_SUBSET_FLAGS_NO_HINTING
        | harfbuzz_subset.HB_SUBSET_FLAGS_NOTDEF_OUTLINE,
    )
    face = harfbuzz_subset.hb_subset_or_fail(hb_face, plan)
    if face == ffi.NULL:
        return None
    face = ffi.gc(face, harfbuzz.hb_face_destroy)
    blob = harfbuzz.hb_face_reference_table(face, harfbuzz.hb_tag_from_string(b"CFF ", -1))
    try:
        length = ffi.new("unsigned int *")
        data = harfbuzz.hb_blob_get_data(blob, length)
        program = bytes(ffi.buffer(data, length[0])) if length[0] else b""
    finally:
        harfbuzz.hb_blob_destroy(blob)
    if not program:
        return None
    cff = CFFFontSet()
    cff.decompile(io.BytesIO(program), None)
    top = cff.topDictIndex[0]
    if getattr(top, "ROS", None) is None:
        return None
    # Every CID the content streams use must name a glyph (HarfBuzz may add a few glyphs
    # its closure reaches, e.g. through the cmap's variation sequences: harmless).
    charset = list(top.charset)
    if len(set(charset)) != len(charset) or not {f"cid{cid:05d}" for cid in wanted[1:]} <= set(charset):
        return None
    return program


def _compact_fonts(document: Any, pdf: pydyf.PDF) -> None:
    fonts_by_name: dict[str, list[Any]] = {}
    for font in document.fonts.values():
        fonts_by_name.setdefault(str(font.name), []).append(font)
    streams: dict[int, list[Any]] = {}
    for obj in pdf.objects:
        if isinstance(obj, dict) and obj.get("Type") == "/FontDescriptor" and "FontFile3" in obj:
            number = int(obj["FontFile3"].split()[0])
            streams.setdefault(number, []).extend(fonts_by_name.get(str(obj["FontName"]), ()))
    for number, fonts in sorted(streams.items()):
        stream = pdf.objects[number]
        if stream.extra.get("Subtype") != "/OpenType" or not fonts:
            continue
        cids = set().union(*(font.widths for font in fonts))
        compact = _compact_cff(fonts[0].hb_face, cids) if cids else None
        if compact is not None:
            stream.stream = [compact]
            stream.extra["Subtype"] = "/CIDFontType0C"


def _finisher(attachments: Sequence[PdfAttachment], *, compact_fonts: bool = True) -> Callable[[Any, pydyf.PDF], None]:
    by_name = {attachment.name: attachment for attachment in attachments}

    def finish(document: Any, pdf: pydyf.PDF) -> None:
        if compact_fonts:
            _compact_fonts(document, pdf)
        filespecs: list[bytes] = []
        for obj in pdf.objects:
            if not isinstance(obj, dict) or obj.get("Type") != "/Filespec":
                continue
            wanted = by_name.get(getattr(obj.get("UF"), "string", None))
            if wanted is None:
                continue
            # PDF/A-3 wants each associated file to say what it is to the document and
            # carry its MIME type; WeasyPrint guesses the type from the file name.
            obj["AFRelationship"] = "/" + wanted.relationship
            stream = pdf.objects[int(obj["EF"]["F"].split()[0])]
            stream.extra["Subtype"] = "/" + wanted.mime.replace("/", "#2f")
            filespecs.append(obj.reference)
        if filespecs:
            # WeasyPrint 70 lists every attachment twice in /AF (once from the name tree,
            # once from the file specs); list each once, in the order given.
            pdf.catalog["AF"] = pydyf.Array(filespecs)
        elif "AF" in pdf.catalog:
            del pdf.catalog["AF"]

    return finish


def render_pdf(
    html: str,
    *,
    identifier: str,
    title: str,
    created: datetime,
    attachments: Sequence[PdfAttachment] = (),
    base_url: str | None = None,
    stylesheets: Sequence[str] = (),
) -> bytes:
    """Render HTML to PDF/A-3b bytes; the same arguments always give the same bytes.

    ``stylesheets`` are CSS texts or paths of .css files, applied after the HTML's own.
    ``created`` (timezone-aware) is both the creation and the modification date.
    """
    document = layout(html, base_url=base_url, stylesheets=stylesheets)
    return write_pdf(document, identifier=identifier, title=title, created=created, attachments=attachments)


def layout(html: str, *, base_url: str | None = None, stylesheets: Sequence[str] = ()) -> Any:
    """Lay out HTML into a WeasyPrint document (its pages can be read before writing)."""
    return HTML(string=html, base_url=base_url).render(
        stylesheets=[_stylesheet(source) for source in stylesheets],
        font_config=FontConfiguration(),
    )


def write_pdf(
    document: Any,
    *,
    identifier: str,
    title: str,
    created: datetime,
    attachments: Sequence[PdfAttachment] = (),
    compact_fonts: bool = True,
) -> bytes:
    """Write a laid-out WeasyPrint document (:func:`layout`) as PDF/A-3b; used by
    :func:`render_pdf` and by callers that need the pages before writing (the case file
    reads where each document starts). ``compact_fonts=False`` keeps WeasyPrint's own
    font subsets (the benchmark's baseline)."""
    names = [attachment.name for attachment in attachments]
    if len(set(names)) != len(names):
        raise ValueError(f"attachment names must be unique: {names}")
    moment = _w3c(created)
    metadata = document.metadata
    metadata.title = title
    metadata.created = moment
    metadata.modified = moment
    metadata.generator = GENERATOR
    # Links in the HTML could add attachments whose dates come from the clock.
    metadata.attachments = []
    naive = created.replace(tzinfo=None, microsecond=0) - (created.utcoffset() or timedelta(0))
    # A WeasyPrint Attachment is good for one render only (DESIGN §2a): build them here.
    pdf_attachments = [
        Attachment(
            file_obj=io.BytesIO(attachment.data),
            name=attachment.name,
            description=attachment.description,
            created=naive,
            modified=naive,
            relationship=attachment.relationship,
        )
        for attachment in attachments
    ]
    return document.write_pdf(
        pdf_variant=PDF_VARIANT,
        pdf_identifier=document_id(identifier),
        attachments=pdf_attachments,
        finisher=_finisher(attachments, compact_fonts=compact_fonts),
    )


# ---------------------------------------------------------------------------------------
# The process pool


def _warm_up() -> None:
    # Load fontconfig and the CJK faces once per worker, so the first request of a worker
    # does not pay for it.
    render_pdf(
        '<html lang="zh-CN"><body style="font-family: \'Noto Serif CJK SC\'">预热</body></html>',
        identifier="warm-up",
        title="warm-up",
        created=datetime.fromisoformat("2026-01-01T00:00:00+08:00"),
    )


class RenderPool:
    """Renders in worker processes so a 60-page case file never blocks the event loop.

    Workers are started with ``spawn`` (a fork of a running server with threads and open
    database connections is unsafe) and replaced after ``max_tasks_per_child`` renders,
    which bounds what fontconfig and Pango caches grow to.
    """

    def __init__(self, workers: int = 1, *, max_tasks_per_child: int | None = 200, warm_up: bool = True) -> None:
        if workers < 1:
            raise ValueError("workers must be ≥ 1")
        self.workers = workers
        self._executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_warm_up if warm_up else None,
            max_tasks_per_child=max_tasks_per_child,
        )
        if warm_up:
            # Start the workers now (the executor starts them on the first submit), so the
            # first document a user asks for does not wait for a process and its fonts.
            self._executor.submit(int)

    async def render(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a module-level function (picklable, with picklable arguments) in a worker."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        finally:
            self._collect()

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """The same from synchronous code (the CLI, benchmarks)."""
        future = self._executor.submit(fn, *args)
        future.add_done_callback(lambda _: self._collect())
        return future

    def _collect(self) -> None:
        # A laid-out document is a web of cycles holding WeasyPrint's copies of the font
        # files (20-27 MB per CJK face): left to the cyclic collector, a worker's memory
        # grows by a few hundred MB over a few renders. Collect once the answer is out,
        # while the worker is idle (≈ 50 ms).
        with contextlib.suppress(RuntimeError):  # the pool is shutting down
            self._executor.submit(gc.collect)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def package_path(*parts: str) -> Path:
    """A file shipped inside reports/ (templates, CSS)."""
    return Path(__file__).resolve().parent.joinpath(*parts)
