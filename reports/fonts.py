"""What documents need from the system, checked at start-up.

Documents name their fonts explicitly (Noto Serif CJK SC for text, Noto Sans CJK SC for
headings: the only free faces that cover rare name characters such as 堃 喆 𠮷). Without
them fontconfig silently substitutes another face, and rare characters come out as
empty boxes. Without HarfBuzz's subsetting library WeasyPrint falls back to fontTools and
a Noto document takes seconds instead of a fraction of one. Neither is an error WeasyPrint
reports, so the server says so when it starts.
"""

from __future__ import annotations

import ctypes.util
import shutil
import subprocess

TEXT_FONT = "Noto Serif CJK SC"
HEADING_FONT = "Noto Sans CJK SC"
REQUIRED_FAMILIES = (TEXT_FONT, HEADING_FONT)


def _installed_families(family: str) -> bool:
    result = subprocess.run(
        ["fc-list", f":family={family}", "family"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.returncode == 0 and bool(result.stdout.strip())


def font_problems() -> list[str]:
    """One line (Chinese, then English) per missing piece, naming the Debian package that
    provides it; empty when documents can be rendered as designed."""
    problems: list[str] = []
    if shutil.which("fc-list") is None:
        problems.append(
            "缺少 fontconfig（请安装 Debian 软件包 fontconfig）：无法查找文书字体。"
            " / fontconfig is missing (Debian package fontconfig): document fonts cannot be found."
        )
    else:
        missing = [family for family in REQUIRED_FAMILIES if not _installed_families(family)]
        if missing:
            names = "、".join(missing)
            problems.append(
                f"缺少文书字体 {names}（请安装 Debian 软件包 fonts-noto-cjk）：生僻字（如 堃 喆 𠮷）会显示为空框。"
                f" / Fonts {', '.join(missing)} are missing (Debian package fonts-noto-cjk):"
                " rare name characters would render as empty boxes."
            )
    if ctypes.util.find_library("harfbuzz-subset") is None:
        problems.append(
            "缺少 HarfBuzz 字体子集库（请安装 Debian 软件包 libharfbuzz-subset0）：每份文书的生成会慢数十倍。"
            " / The HarfBuzz subsetting library is missing (Debian package libharfbuzz-subset0):"
            " every document would take tens of times longer to render."
        )
    return problems
