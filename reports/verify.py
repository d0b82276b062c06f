"""The four checks of DA/T 70-2018 (四性检测) on an archive package (docs/archive.md).

``verify_package(path)`` runs, in this order:

1. 真实性 authenticity (``archive.authenticity``): every member and every file the case
   file PDF carries has the size, SHA-256 and SM3 the manifest states;
2. 完整性 integrity (``archive.integrity``): nothing missing, nothing extra, and the
   metadata agrees with the manifest and the case document;
3. 可用性 usability (``archive.usability``): the PDF opens (pypdf) and passes
   ``qpdf --check``, is PDF/A-3, embeds every font, and its text can be extracted and
   names the case; ``case.json`` and ``timeline.json`` parse;
4. 安全性 safety (``archive.safety``): no JavaScript, launch or other actions PDF/A
   forbids, no embedded file the manifest does not declare, and no member that could run
   or write outside the folder it is unpacked into.

Every check runs and reports all it found; :attr:`VerifyReport.first_failure` is the
first finding of the first check that failed, in the order above.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import stat
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from reports.archive import (
    CASE_JSON,
    CASEFILE,
    DIGEST_ALGORITHMS,
    FORMAT,
    MANIFEST,
    MEMBERS,
    METADATA,
    RECORDS,
    TIMELINE_JSON,
    digests,
    require_sm3,
)

CHECKS = (
    ("authenticity", "真实性"),
    ("integrity", "完整性"),
    ("usability", "可用性"),
    ("safety", "安全性"),
)
CHECK_NAMES_ZH = dict(CHECKS)
# A package holds a case file of a few MB at most; a member claiming more is refused
# before it is read (a zip bomb must not exhaust the verifier).
MAX_MEMBER_BYTES = 512 * 1024 * 1024
# Actions ISO 19005-3 §6.6.1 forbids, and the ones that run code or fetch content.
FORBIDDEN_ACTIONS = frozenset(
    {
        "/JavaScript",
        "/Launch",
        "/Sound",
        "/Movie",
        "/ResetForm",
        "/ImportData",
        "/Hide",
        "/SetOCGState",
        "/Rendition",
        "/Trans",
        "/GoTo3DView",
        "/RichMediaExecute",
    }
)
# Keys that carry scripts or run something when a document or page opens.
FORBIDDEN_KEYS = {
    "/JS": "JavaScript 脚本（/JS）",
    "/JavaScript": "JavaScript 脚本（/JavaScript）",
    "/AA": "自动执行的动作（/AA）",
    "/XFA": "XFA 表单（可含脚本）",
    "/RichMedia": "富媒体内容（/RichMedia）",
}
EXECUTABLE_SUFFIXES = frozenset(
    {
        ".exe", ".dll", ".com", ".scr", ".msi", ".bat", ".cmd", ".ps1", ".vbs", ".js", ".jse", ".wsf",
        ".sh", ".bash", ".py", ".pl", ".rb", ".jar", ".class", ".apk", ".elf", ".so", ".dylib", ".app",
        ".lnk", ".hta", ".cpl",
    }
)  # fmt: skip
EXECUTABLE_MAGIC = (
    (b"MZ", "Windows 可执行文件"),
    (b"\x7fELF", "ELF 可执行文件"),
    (b"#!", "脚本（#!）"),
    (b"\xca\xfe\xba\xbe", "Java 类文件或 Mach-O 可执行文件"),
    (b"\xcf\xfa\xed\xfe", "Mach-O 可执行文件"),
    (b"\xce\xfa\xed\xfe", "Mach-O 可执行文件"),
    (b"PK\x03\x04", "压缩包（可能内含可执行文件）"),
)
PDFA_PART = re.compile(r"""pdfaid:part(?:>|\s*=\s*["'])\s*3\b""")
PDFA_CONFORMANCE = re.compile(r"""pdfaid:conformance(?:>|\s*=\s*["'])\s*[BbUuAa]\b""")


class VerifierUnavailable(RuntimeError):
    """A tool the checks need is missing: an installation problem, not a package's fault."""


@dataclass(frozen=True)
class Finding:
    check: str
    member: str | None
    message: str  # Chinese, naming the member

    @property
    def code(self) -> str:
        return f"archive.{self.check}"

    def __str__(self) -> str:
        return f"{CHECK_NAMES_ZH[self.check]}检测未通过（{self.code}）：{self.message}"


@dataclass(frozen=True)
class CheckResult:
    check: str
    findings: tuple[Finding, ...] = ()
    ran: bool = True

    @property
    def name_zh(self) -> str:
        return CHECK_NAMES_ZH[self.check]

    @property
    def code(self) -> str:
        return f"archive.{self.check}"

    @property
    def passed(self) -> bool:
        return self.ran and not self.findings


@dataclass(frozen=True)
class VerifyReport:
    path: str
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def first_failure(self) -> Finding | None:
        for result in self.results:
            if result.findings:
                return result.findings[0]
        return None

    def result(self, check: str) -> CheckResult:
        return next(result for result in self.results if result.check == check)

    def lines_zh(self) -> list[str]:
        lines = []
        for result in self.results:
            if not result.ran:
                lines.append(f"{result.name_zh}（{result.code}）：未检测")
            elif result.passed:
                lines.append(f"{result.name_zh}（{result.code}）：通过")
            else:
                lines.append(f"{result.name_zh}（{result.code}）：未通过")
                lines += [f"  - {finding.message}" for finding in result.findings]
        return lines


# ---------------------------------------------------------------- reading the package


@dataclass
class _Package:
    infos: list[zipfile.ZipInfo]
    data: dict[str, bytes] = field(default_factory=dict)
    # Members whose bytes could not be read (bad CRC, broken compression), with why.
    unreadable: dict[str, str] = field(default_factory=dict)
    oversized: set[str] = field(default_factory=set)
    manifest: dict[str, Any] | None = None
    manifest_error: str | None = None
    pdf: PdfReader | None = None
    pdf_error: str | None = None
    # The PDF's objects as qpdf reads them (qpdf --json), or why that failed.
    objects: dict[str, Any] | None = None
    objects_error: str | None = None
    pdf_embedded: dict[str, bytes] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [info.filename for info in self.infos]

    def manifest_entries(self) -> dict[str, dict[str, Any]]:
        members = (self.manifest or {}).get("members")
        if not isinstance(members, list):
            return {}
        return {
            entry["name"]: entry for entry in members if isinstance(entry, dict) and isinstance(entry.get("name"), str)
        }

    def declared_embedded(self) -> dict[str, dict[str, Any]]:
        entry = self.manifest_entries().get(CASEFILE) or {}
        items = entry.get("embedded") or []
        return {item["name"]: item for item in items if isinstance(item, dict) and isinstance(item.get("name"), str)}


def _read(raw: bytes) -> _Package | str:
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        return f"归档信息包不是可读的 ZIP 文件（{error}）"
    package = _Package(infos=archive.infolist())
    with archive:
        for info in package.infos:
            if info.file_size > MAX_MEMBER_BYTES:
                package.oversized.add(info.filename)
                continue
            try:
                package.data.setdefault(info.filename, archive.read(info))
            except zipfile.BadZipFile as error:
                package.unreadable[info.filename] = f"内容与压缩包记录的校验值不符，已被改动（{error}）"
            except (zlib.error, OSError, EOFError, NotImplementedError, RuntimeError) as error:
                package.unreadable[info.filename] = f"内容无法读出（{error}）"
    raw_manifest = package.data.get(MANIFEST)
    if raw_manifest is not None:
        try:
            manifest = json.loads(raw_manifest.decode("utf-8"))
            if not isinstance(manifest, dict) or not isinstance(manifest.get("members"), list):
                raise ValueError("缺少 members 列表")
            package.manifest = manifest
        except (UnicodeDecodeError, ValueError) as error:
            package.manifest_error = str(error)
    pdf = package.data.get(CASEFILE)
    if pdf is not None:
        _open_pdf(package, pdf)
    return package


def _open_pdf(package: _Package, pdf: bytes) -> None:
    try:
        reader = PdfReader(io.BytesIO(pdf))
        if len(reader.pages) == 0:
            raise ValueError("没有页面")
        package.pdf = reader
    except Exception as error:  # pypdf raises many kinds; any of them means "does not open"
        package.pdf_error = f"{type(error).__name__}: {error}"
        return
    try:
        package.objects = _qpdf_objects(pdf)
    except subprocess.CalledProcessError as error:
        package.objects_error = (error.stderr or error.stdout or "").strip()[:300]
    except ValueError as error:
        package.objects_error = str(error)
    if package.objects is not None:
        package.pdf_embedded = _embedded_files(reader)


def _qpdf() -> str:
    path = shutil.which("qpdf")
    if path is None:
        raise VerifierUnavailable("未安装 qpdf，无法检测 PDF（请安装 Debian 软件包 qpdf）")
    return path


def _run_qpdf(pdf: bytes, *arguments: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="fengqiao-verify-") as folder:
        path = Path(folder) / "casefile.pdf"
        path.write_bytes(pdf)
        return subprocess.run(
            [_qpdf(), *arguments, str(path)], capture_output=True, text=True, timeout=300, check=False
        )


def _qpdf_objects(pdf: bytes) -> dict[str, Any]:
    """Every object of the PDF (object streams unpacked) as qpdf's JSON v2 shows it."""
    done = _run_qpdf(pdf, "--json=2", "--json-key=qpdf")
    # Exit 3: warnings (the JSON is still written); qpdf --check judges those.
    if done.returncode not in (0, 3):
        raise subprocess.CalledProcessError(done.returncode, "qpdf --json", done.stdout, done.stderr)
    try:
        return json.loads(done.stdout)["qpdf"][1]
    except (ValueError, KeyError, IndexError) as error:
        raise ValueError(f"qpdf 的输出无法解析：{error}") from None


def _embedded_files(reader: PdfReader) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    try:
        for name, contents in reader.attachments.items():
            found[name] = contents[0] if contents else b""
    except Exception:  # a broken name tree: safety reports the file specs it finds
        pass
    return found


# ---------------------------------------------------------------- 1 真实性


def _authenticity(package: _Package) -> list[Finding]:
    findings: list[Finding] = []

    def fail(member: str | None, message: str) -> None:
        findings.append(Finding("authenticity", member, message))

    for name, why in package.unreadable.items():
        fail(name, f"{name} {why}")
    if MANIFEST not in package.data:
        if MANIFEST not in package.unreadable:
            fail(MANIFEST, f"缺少清单 {MANIFEST}，无法核验数字摘要")
        return findings
    if package.manifest is None:
        fail(MANIFEST, f"清单 {MANIFEST} 无法解析（{package.manifest_error}）")
        return findings
    for name, entry in package.manifest_entries().items():
        data = package.data.get(name)
        if data is None:
            continue  # missing members are the integrity check's to name
        _compare(fail, name, name, entry, data)
    for name, entry in package.declared_embedded().items():
        data = package.pdf_embedded.get(name)
        if data is not None:
            _compare(fail, CASEFILE, f"{CASEFILE} 内嵌的 {name}", entry, data)
    return findings


def _compare(fail, member: str, label: str, entry: dict[str, Any], data: bytes) -> None:
    if entry.get("size") != len(data):
        fail(member, f"{label} 的大小与清单不符（清单 {entry.get('size')} 字节，实际 {len(data)} 字节）")
    actual = digests(data)
    for key, algorithm in DIGEST_ALGORITHMS:
        stated = entry.get(key)
        if not isinstance(stated, str) or not stated:
            fail(member, f"清单未给出 {label} 的 {algorithm} 摘要")
        elif stated.lower() != actual[key]:
            fail(member, f"{label} 的 {algorithm} 摘要与清单不符，内容已被改动")


# ---------------------------------------------------------------- 2 完整性


def _integrity(package: _Package) -> list[Finding]:
    findings: list[Finding] = []

    def fail(member: str | None, message: str) -> None:
        findings.append(Finding("integrity", member, message))

    names = package.names
    for name in sorted({name for name in names if names.count(name) > 1}):
        fail(name, f"归档信息包中有重名文件 {name}")
    for name in MEMBERS:
        if name not in names:
            fail(name, f"归档信息包缺少文件 {name}")
    for name in names:
        if name not in MEMBERS:
            fail(name, f"归档信息包中有多余的文件 {name}")
    if package.manifest is None:
        return findings
    manifest = package.manifest
    if manifest.get("format") != FORMAT:
        fail(MANIFEST, f"清单 {MANIFEST} 的格式标识不是 {FORMAT}")
    listed = package.manifest_entries()
    for name in MEMBERS[1:]:
        if name not in listed:
            fail(MANIFEST, f"清单未列出 {name}")
    for name in listed:
        if name not in MEMBERS[1:]:
            fail(MANIFEST, f"清单列出了不应有的文件 {name}")
    if package.pdf is not None and package.objects is not None:
        for name in package.declared_embedded():
            if name not in package.pdf_embedded:
                fail(CASEFILE, f"{CASEFILE} 缺少清单所列的内嵌文件 {name}")
    # The PDF carries the case it shows: the very bytes of the case.json member.
    inside = package.declared_embedded().get(CASE_JSON)
    member = listed.get(CASE_JSON)
    if inside is None:
        fail(CASEFILE, f"清单未声明 {CASEFILE} 内嵌的 {CASE_JSON}")
    elif member is not None and inside.get("sha256") != member.get("sha256"):
        fail(CASEFILE, f"{CASEFILE} 内嵌的 {CASE_JSON} 与信息包中的 {CASE_JSON} 不是同一份内容")
    case = _case_document(package)
    if isinstance(case, dict):
        case_id, number = str(case.get("id")), case.get("number")
        if str(manifest.get("case_id")) != case_id:
            fail(MANIFEST, f"清单的案件标识 {manifest.get('case_id')} 与 {CASE_JSON} 的 {case_id} 不符")
        if manifest.get("number") != number:
            fail(MANIFEST, f"清单的案件编号 {manifest.get('number')} 与 {CASE_JSON} 的 {number} 不符")
    findings += _metadata_findings(package, listed, case if isinstance(case, dict) else None)
    return findings


def _json_member(package: _Package, name: str) -> Any:
    raw = package.data.get(name)
    if raw is None:
        raise ValueError(f"缺少 {name}")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{name} 不是有效的 UTF-8 JSON（{error}）") from None


def _case_document(package: _Package) -> dict[str, Any] | str:
    """The case of ``case.json``, or why there is none."""
    try:
        case = _json_member(package, CASE_JSON)
    except ValueError as error:
        return str(error)
    if not isinstance(case, dict) or not case.get("id"):
        return f"{CASE_JSON} 中没有案件（id）"
    return case


def _timeline_problem(package: _Package) -> str | None:
    try:
        timeline = _json_member(package, TIMELINE_JSON)
    except ValueError as error:
        return str(error)
    if not isinstance(timeline, list) or not all(isinstance(entry, dict) and "kind" in entry for entry in timeline):
        return f"{TIMELINE_JSON} 不是时间线（记录的列表）"
    return None


def _text(element: ET.Element | None) -> str | None:
    return None if element is None else (element.text or "")


def _metadata_findings(
    package: _Package, listed: dict[str, dict[str, Any]], case: dict[str, Any] | None
) -> list[Finding]:
    findings: list[Finding] = []

    def fail(message: str) -> None:
        findings.append(Finding("integrity", METADATA, f"{METADATA}：{message}"))

    raw = package.data.get(METADATA)
    if raw is None:
        return findings
    if _has_doctype(raw):
        return findings  # safety names it; it is not parsed
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as error:
        fail(f"元数据无法解析（{error}）")
        return findings
    record = root.find("文件实体")
    if record is None:
        fail("元数据缺少“文件实体”")
        return findings
    described: dict[str, ET.Element] = {}
    for block in record.findall("电子属性"):
        name = _text(block.find("计算机文件名"))
        if name:
            described[name] = block
    for name in RECORDS:
        if name not in described:
            fail(f"元数据未描述 {name}（电子属性/计算机文件名）")
    for name, block in described.items():
        entry = listed.get(name)
        if name not in RECORDS or entry is None:
            fail(f"元数据描述了清单中没有的文件 {name}")
            continue
        if _text(block.find("计算机文件大小")) != str(entry.get("size")):
            fail(f"元数据所记 {name} 的计算机文件大小与清单不符")
        stated = {item.get("摘要算法"): item.text for item in block.findall("数字摘要")}
        for key, algorithm in DIGEST_ALGORITHMS:
            if stated.get(algorithm) != entry.get(key):
                fail(f"元数据所记 {name} 的 {algorithm} 数字摘要与清单不符")
    if case is not None:
        if _text(record.find("电子文件号")) != str(case.get("id")):
            fail(f"元数据的电子文件号与 {CASE_JSON} 的案件标识不符")
        number = case.get("number") or ""
        if _text(record.find("内容描述/文件编号")) != number:
            fail(f"元数据的文件编号与 {CASE_JSON} 的案件编号 {number or '（无）'} 不符")
        if _text(record.find("内容描述/题名")) != case.get("title"):
            fail(f"元数据的题名与 {CASE_JSON} 的案件标题不符")
    if package.pdf is not None and _text(record.find("形式特征/页数")) != str(len(package.pdf.pages)):
        fail(f"元数据所记页数与 {CASEFILE} 的页数 {len(package.pdf.pages)} 不符")
    return findings


def _has_doctype(raw: bytes) -> bool:
    head = raw[:4096].upper()
    return b"<!DOCTYPE" in head or b"<!ENTITY" in raw.upper()


# ---------------------------------------------------------------- 3 可用性


def _usability(package: _Package) -> list[Finding]:
    findings: list[Finding] = []

    def fail(member: str, message: str) -> None:
        findings.append(Finding("usability", member, message))

    pdf = package.data.get(CASEFILE)
    if pdf is not None:
        if package.pdf is None:
            fail(CASEFILE, f"{CASEFILE} 无法打开（{package.pdf_error}）")
        else:
            findings += _pdf_usability(package, pdf)
    case = _case_document(package) if CASE_JSON in package.data else None
    if isinstance(case, str):
        fail(CASE_JSON, case)
    problem = _timeline_problem(package) if TIMELINE_JSON in package.data else None
    if problem:
        fail(TIMELINE_JSON, problem)
    return findings


def _pdf_usability(package: _Package, pdf: bytes) -> list[Finding]:
    findings: list[Finding] = []

    def fail(message: str) -> None:
        findings.append(Finding("usability", CASEFILE, message))

    reader = package.pdf
    assert reader is not None
    checked = _run_qpdf(pdf, "--check")
    if checked.returncode != 0:
        detail = (checked.stderr or checked.stdout).strip().splitlines()
        fail(f"{CASEFILE} 未通过 qpdf --check（{detail[-1] if detail else checked.returncode}）")
    try:
        xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8", "replace")
    except Exception:
        xmp = ""
    if not (PDFA_PART.search(xmp) and PDFA_CONFORMANCE.search(xmp)):
        fail(f"{CASEFILE} 没有 PDF/A-3 标识（XMP pdfaid），不符合长期保存格式")
    if package.objects is None:
        fail(f"{CASEFILE} 的对象无法读出，不能确认字体已嵌入（{package.objects_error}）")
    else:
        for font in _unembedded_fonts(package.objects):
            fail(f"{CASEFILE} 使用的字体 {font} 未嵌入")
    # Page by page until the case shows (on the cover): pypdf reads ~0.1 s a page, and
    # qpdf --check has decoded every stream of every page already.
    wanted = re.sub(r"\s+", "", _identifier(package) or "")
    compact = ""
    try:
        for page in reader.pages:
            compact += re.sub(r"\s+", "", page.extract_text() or "")
            if compact and wanted in compact:
                break
    except Exception as error:
        fail(f"{CASEFILE} 的文字无法提取（{type(error).__name__}: {error}）")
        return findings
    if not compact:
        fail(f"{CASEFILE} 中提取不到文字（可能只有图像或文字已转为曲线）")
    elif wanted not in compact:
        fail(f"{CASEFILE} 的文字中找不到案件编号（或无编号案件的题名）{_identifier(package)}")
    return findings


def _identifier(package: _Package) -> str | None:
    """What the case file must show: the official number, or its title before one was issued."""
    case = _case_document(package)
    if isinstance(case, dict):
        return case.get("number") or case.get("title")
    return (package.manifest or {}).get("number")


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    """Every dictionary inside a qpdf JSON value (stream dictionaries included)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _objects(objects: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for key, holder in objects.items():
        if not key.startswith("obj:") or not isinstance(holder, dict):
            continue
        if "value" in holder:
            yield key[4:], holder["value"]
        elif "stream" in holder:
            yield key[4:], holder["stream"].get("dict", {})


def _resolve(objects: dict[str, Any], value: Any) -> Any:
    if isinstance(value, str) and value.endswith(" R"):
        holder = objects.get(f"obj:{value}") or {}
        if "value" in holder:
            return holder["value"]
        if "stream" in holder:
            return holder["stream"].get("dict", {})
    return value


def _string(value: Any) -> str:
    if isinstance(value, str):
        if value.startswith("u:"):
            return value[2:]
        if value.startswith("b:"):
            try:
                return bytes.fromhex(value[2:]).decode("latin-1")
            except ValueError:
                return value
        return value.lstrip("/")
    return str(value)


def _unembedded_fonts(objects: dict[str, Any]) -> list[str]:
    missing: list[str] = []
    for _, value in _objects(objects):
        for font in _walk(value):
            if font.get("/Type") != "/Font" or font.get("/Subtype") in ("/Type3", "/CIDFontType0", "/CIDFontType2"):
                continue
            parts = [font]
            if font.get("/Subtype") == "/Type0":
                parts = [_resolve(objects, item) for item in _resolve(objects, font.get("/DescendantFonts")) or []]
            for part in parts:
                descriptor = _resolve(objects, part.get("/FontDescriptor")) if isinstance(part, dict) else None
                if not isinstance(descriptor, dict) or not any(
                    key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")
                ):
                    name = _string(font.get("/BaseFont", "（无名字体）"))
                    if name not in missing:
                        missing.append(name)
    return missing


# ---------------------------------------------------------------- 4 安全性


def _safety(package: _Package) -> list[Finding]:
    findings: list[Finding] = []

    def fail(member: str | None, message: str) -> None:
        findings.append(Finding("safety", member, message))

    for info in package.infos:
        name = info.filename
        for problem in _unsafe_name(name):
            fail(name, f"文件名 {name!r} {problem}")
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_ISLNK(mode):
            fail(name, f"{name} 是符号链接")
        if info.create_system == 3 and mode & 0o111:
            fail(name, f"{name} 带有可执行权限")
        if info.flag_bits & 0x1:
            fail(name, f"{name} 已加密，无法检测其内容")
        if name in package.oversized:
            fail(name, f"{name} 声称有 {info.file_size} 字节，超过上限，未予读取")
        suffix = Path(name).suffix.lower()
        if suffix in EXECUTABLE_SUFFIXES:
            fail(name, f"{name} 是可执行文件类型（{suffix}）")
        data = package.data.get(name, b"")
        for magic, kind in EXECUTABLE_MAGIC:
            if data.startswith(magic):
                fail(name, f"{name} 的内容是{kind}")
                break
    metadata = package.data.get(METADATA)
    if metadata is not None and _has_doctype(metadata):
        fail(METADATA, f"{METADATA} 含有 DOCTYPE 或实体声明（可能引用外部内容）")
    if package.data.get(CASEFILE) is not None:
        if package.objects is None:
            problem = package.pdf_error or package.objects_error
            fail(CASEFILE, f"{CASEFILE} 的对象无法逐一读出，不能确认不含可执行内容（{problem}）")
        else:
            findings += _pdf_safety(package)
    return findings


def _unsafe_name(name: str) -> list[str]:
    problems = []
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        problems.append("是绝对路径")
    if "\\" in name:
        problems.append("含有反斜杠")
    if ".." in re.split(r"[/\\]", name):
        problems.append("含有上级目录（..）")
    if any(ord(character) < 32 for character in name):
        problems.append("含有控制字符")
    return problems


def _pdf_safety(package: _Package) -> list[Finding]:
    findings: list[Finding] = []
    objects = package.objects
    assert objects is not None
    reported: set[str] = set()

    def fail(message: str) -> None:
        if message not in reported:
            reported.add(message)
            findings.append(Finding("safety", CASEFILE, message))

    declared = package.declared_embedded()
    allowed_streams: set[str] = set()
    for reference, value in _objects(objects):
        for item in _walk(value):
            for key, label in FORBIDDEN_KEYS.items():
                if key in item:
                    fail(f"{CASEFILE} 含有{label}（对象 {reference}）")
            action = item.get("/S")
            if action in FORBIDDEN_ACTIONS:
                fail(f"{CASEFILE} 含有禁止的动作 {action}（对象 {reference}）")
            if "/EF" in item:
                name = _string(item.get("/UF", item.get("/F", "")))
                files = _resolve(objects, item["/EF"])
                streams = [v for v in files.values() if isinstance(v, str)] if isinstance(files, dict) else []
                if name in declared:
                    allowed_streams.update(streams)
                else:
                    fail(f"{CASEFILE} 内嵌了清单未声明的文件 {name or '（无名）'}")
    for reference, value in _objects(objects):
        if isinstance(value, dict) and value.get("/Type") == "/EmbeddedFile" and reference not in allowed_streams:
            fail(f"{CASEFILE} 含有未声明的嵌入文件流（对象 {reference}）")
    return findings


# ---------------------------------------------------------------- the report


def verify_bytes(raw: bytes, *, label: str = "") -> VerifyReport:
    """The four checks on a package held in memory."""
    require_sm3()
    _qpdf()
    package = _read(raw)
    if isinstance(package, str):
        results = [CheckResult(check, ran=False) for check, _ in CHECKS]
        results[1] = CheckResult("integrity", (Finding("integrity", None, package),))
        return VerifyReport(label, tuple(results))
    return VerifyReport(
        label,
        (
            CheckResult("authenticity", tuple(_authenticity(package))),
            CheckResult("integrity", tuple(_integrity(package))),
            CheckResult("usability", tuple(_usability(package))),
            CheckResult("safety", tuple(_safety(package))),
        ),
    )


def verify_package(path: str | Path) -> VerifyReport:
    """The four checks of DA/T 70-2018 on the package at ``path``."""
    path = Path(path)
    return verify_bytes(path.read_bytes(), label=str(path))
