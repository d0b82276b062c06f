"""The field app (pwa/, built into ``pwa/dist`` by ``make setup``) served at ``/``.

Caching decides how fast a phone on 2G opens the app: the entry points (``index.html``,
``sw.js``, the manifest) are revalidated on every load (``no-cache`` + ETag, a 304 costs a
few dozen bytes) so a new release is seen at once; the bundles under ``assets/`` carry a
content hash in their names and are ``immutable`` for a year. The build writes ``.br`` and
``.gz`` beside every text file; the best one the client accepts is sent as is, with its
``Content-Encoding``, instead of compressing on each request.

Only these paths are routed (``/``, ``/{name}``, ``/assets/{name}``, ``/icons/{name}``): a
catch-all would shadow the API's own 404 and 405 answers.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from litestar import Request, Response, Router, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from server.api.deps import context_of

NO_CACHE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
# Icons keep their names across releases; a day is short enough for a new one to show.
ICON_CACHE = "public, max-age=86400"
REVALIDATED = {"index.html", "sw.js", "manifest.webmanifest"}
TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".webmanifest": "application/manifest+json",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# The app talks only to its own origin; images come from blob: URLs made of fetched files.
CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
NOT_BUILT = (
    "<!doctype html><html lang=zh-CN><meta charset=utf-8><title>枫桥</title>"
    "<p>前端应用尚未构建：请在项目目录运行 <code>make setup</code>（需要 Node 20 与 npm）。</p></html>"
)


@dataclass(frozen=True)
class Encoded:
    body: bytes
    encoding: str | None


@dataclass(frozen=True)
class StaticFile:
    mtime_ns: int
    etag: str
    media_type: str
    variants: dict[str | None, bytes]  # None: identity; "br", "gzip"


_cache: dict[Path, StaticFile] = {}


def _load(path: Path) -> StaticFile | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    cached = _cache.get(path)
    if cached is not None and cached.mtime_ns == stat.st_mtime_ns:
        return cached
    body = path.read_bytes()
    variants: dict[str | None, bytes] = {None: body}
    for suffix, encoding in ((".br", "br"), (".gz", "gzip")):
        packed = path.with_name(path.name + suffix)
        if packed.is_file():
            variants[encoding] = packed.read_bytes()
    media_type = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    loaded = StaticFile(stat.st_mtime_ns, f'"{hashlib.sha256(body).hexdigest()[:32]}"', media_type, variants)
    _cache[path] = loaded
    return loaded


def _accepted(header: str) -> set[str]:
    accepted = set()
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        q = params.strip().removeprefix("q=") if params.strip().startswith("q=") else "1"
        try:
            if float(q) > 0:
                accepted.add(name.strip().lower())
        except ValueError:
            continue
    return accepted


def _choose(file: StaticFile, request: Request) -> Encoded:
    accepted = _accepted(request.headers.get("accept-encoding", ""))
    for encoding in ("br", "gzip"):
        if encoding in file.variants and (encoding in accepted or "*" in accepted):
            return Encoded(file.variants[encoding], encoding)
    return Encoded(file.variants[None], None)


def _serve(request: Request, relative: str, cache_control: str) -> Response[bytes]:
    root: Path = context_of_dir(request.app.state)
    # Names come from one path segment each; refuse anything that could climb out.
    if not relative or any(part in ("", ".", "..") or part.startswith(".") for part in relative.split("/")):
        raise NotFoundException()
    path = root / relative
    if path.suffix in (".br", ".gz") or not path.is_file():
        raise NotFoundException()
    file = _load(path)
    if file is None:
        raise NotFoundException()
    headers = {
        "Cache-Control": cache_control,
        "ETag": file.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if relative == "index.html":
        headers["Content-Security-Policy"] = CSP
        headers["Referrer-Policy"] = "no-referrer"
    if file.etag in request.headers.get("if-none-match", ""):
        return Response(b"", status_code=304, headers=headers)
    chosen = _choose(file, request)
    if chosen.encoding:
        headers["Content-Encoding"] = chosen.encoding
    return Response(chosen.body, media_type=file.media_type, headers=headers)


def context_of_dir(state: State) -> Path:
    return context_of(state).settings.pwa_dir


def _cache_control(name: str) -> str:
    return NO_CACHE if name in REVALIDATED else ICON_CACHE


OPT = {"skip_compression": True}


@get("/", include_in_schema=False, opt=OPT, sync_to_thread=False)
def app_index(request: Request) -> Response[bytes]:
    return _index(request)


def _index(request: Request) -> Response[bytes]:
    try:
        return _serve(request, "index.html", NO_CACHE)
    except NotFoundException:
        return Response(NOT_BUILT.encode(), media_type="text/html", headers={"Cache-Control": NO_CACHE})


@get("/{name:str}", include_in_schema=False, opt=OPT, sync_to_thread=False)
def app_file(request: Request, name: FromPath[str]) -> Response[bytes]:
    if name == "index.html":
        return _index(request)
    return _serve(request, name, _cache_control(name))


@get("/assets/{name:str}", include_in_schema=False, opt=OPT, sync_to_thread=False)
def app_asset(request: Request, name: FromPath[str]) -> Response[bytes]:
    return _serve(request, f"assets/{name}", IMMUTABLE)


@get("/icons/{name:str}", include_in_schema=False, opt=OPT, sync_to_thread=False)
def app_icon(request: Request, name: FromPath[str]) -> Response[bytes]:
    return _serve(request, f"icons/{name}", ICON_CACHE)


pwa_router = Router(path="/", route_handlers=[app_index, app_file, app_asset, app_icon])
