"""What the tests read out of a PDF: text, fonts, PDF/A identification, attachments, qpdf."""

from __future__ import annotations

import io
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader
from pypdf.generic import IndirectObject

SUBSET_PREFIX = re.compile(r"^[A-Z]{6}\+")


@dataclass(frozen=True)
class FontInfo:
    name: str
    embedded: bool


def reader(pdf: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(pdf))


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in reader(pdf).pages)


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() or "" for page in reader(pdf).pages]


def fonts_of(pdf: bytes) -> list[FontInfo]:
    """Every font a page uses, with whether its program is embedded (descendant fonts of
    Type0 fonts included)."""
    found: dict[str, FontInfo] = {}
    for page in reader(pdf).pages:
        resources = page.get("/Resources")
        resources = resources.get_object() if resources is not None else {}
        fonts = resources.get("/Font")
        if fonts is None:
            continue
        for ref in fonts.get_object().values():
            font = ref.get_object()
            parts = [font]
            if "/DescendantFonts" in font:
                parts += [d.get_object() for d in font["/DescendantFonts"]]
            embedded = False
            for part in parts:
                descriptor = part.get("/FontDescriptor")
                if descriptor is None:
                    continue
                descriptor = descriptor.get_object()
                embedded = embedded or any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
            name = str(font["/BaseFont"]).lstrip("/")
            found[name] = FontInfo(name, embedded)
    return list(found.values())


def xmp_of(pdf: bytes) -> str:
    metadata = reader(pdf).trailer["/Root"]["/Metadata"].get_object()
    return metadata.get_data().decode("utf-8")


def output_intents(pdf: bytes) -> list[dict]:
    intents = reader(pdf).trailer["/Root"].get("/OutputIntents") or []
    return [intent.get_object() for intent in intents]


@dataclass(frozen=True)
class Embedded:
    name: str
    data: bytes
    mime: str
    relationship: str
    in_af: bool


def embedded_files(pdf: bytes) -> dict[str, Embedded]:
    root = reader(pdf).trailer["/Root"]
    af = [ref.idnum for ref in root.get("/AF", []) if isinstance(ref, IndirectObject)]
    names = root["/Names"]["/EmbeddedFiles"]["/Names"]
    files = {}
    for index in range(0, len(names), 2):
        ref = names[index + 1]
        spec = ref.get_object()
        stream = spec["/EF"]["/F"].get_object()
        files[str(spec["/UF"])] = Embedded(
            name=str(spec["/UF"]),
            data=stream.get_data(),
            mime=str(stream.get("/Subtype", "")),
            relationship=str(spec.get("/AFRelationship", "")),
            in_af=ref.idnum in af,
        )
    return files


def qpdf_check(pdf: bytes) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "check.pdf"
        path.write_bytes(pdf)
        return subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True, check=False)


def assert_archival(pdf: bytes) -> None:
    """PDF/A-3b identification, an sRGB output intent, every font embedded and subset,
    and qpdf finds nothing wrong."""
    xmp = xmp_of(pdf)
    assert 'pdfaid:part="3"' in xmp or "<pdfaid:part>3</pdfaid:part>" in xmp, xmp
    assert 'pdfaid:conformance="B"' in xmp or "<pdfaid:conformance>B</pdfaid:conformance>" in xmp, xmp
    intents = output_intents(pdf)
    assert intents and str(intents[0]["/S"]) == "/GTS_PDFA1"
    assert "sRGB" in str(intents[0]["/OutputConditionIdentifier"])
    fonts = fonts_of(pdf)
    assert fonts
    for font in fonts:
        assert font.embedded, font
        assert SUBSET_PREFIX.match(font.name), font
    checked = qpdf_check(pdf)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No syntax or stream encoding errors" in checked.stdout


def rasterize(pdf: bytes, renderer: str, dpi: int = 50) -> list[bytes]:
    """Every page drawn as PNG by a real renderer: "poppler" (pdftoppm) or "mupdf" (mutool)."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.pdf"
        source.write_bytes(pdf)
        if renderer == "poppler":
            command = ["pdftoppm", "-r", str(dpi), "-png", str(source), str(Path(folder) / "page")]
        else:
            command = ["mutool", "draw", "-q", "-r", str(dpi), "-o", str(Path(folder) / "page-%03d.png"), str(source)]
        subprocess.run(command, check=True, capture_output=True)
        return [path.read_bytes() for path in sorted(Path(folder).glob("page-*.png"))]
