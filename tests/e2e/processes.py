"""Real `fengqiao` processes for end-to-end tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

FENGQIAO = str(Path(sys.executable).with_name("fengqiao"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([FENGQIAO, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextlib.contextmanager
def serving(env: dict[str, str], log: Path | None = None) -> Iterator[str]:
    """A `fengqiao serve` process; yields the API base URL once /health answers.

    Its output goes to a file (``log``, or a temporary one): an unread pipe fills after
    64 KiB of access log and stalls the server."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    with contextlib.ExitStack() as stack:
        if log is None:
            log = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "server.log"
        output = stack.enter_context(log.open("w"))
        process = subprocess.Popen(
            [FENGQIAO, "serve", "--port", str(port)], env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "server did not come up in 30 s"
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
