"""DESIGN.md §1: grid imports nothing of ours, sync and reports only grid, server all three."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def run_lint_imports(config: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = [LINT_IMPORTS, "--no-cache"]
    if config is not None:
        args += ["--config", str(config)]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_packages_import_only_in_the_allowed_direction():
    result = run_lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_contract_would_catch_grid_importing_the_server(tmp_path):
    # Prove the contract bites: a throwaway copy of the layout where grid imports server.
    for package in ("grid", "sync", "reports", "server"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "grid" / "bad.py").write_text("import server\n")
    config = tmp_path / "pyproject.toml"
    config.write_text((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    result = subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--config", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0, textwrap.shorten(result.stdout, 500)
    assert "BROKEN" in result.stdout
