"""A real ``chroma run`` on 127.0.0.1 for the tests that need a Chroma server: started, waited
for (its heartbeat), stopped, killed and started again on the same folder and port."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

START_TIMEOUT_S = 60.0


def chroma_command() -> str | None:
    """The ``chroma`` command of this environment (beside its python), else on PATH."""
    beside_python = Path(sys.executable).parent / "chroma"
    return str(beside_python) if beside_python.is_file() else shutil.which("chroma")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    """``chroma run --path folder`` on 127.0.0.1:port; skips the test when chroma is missing.
    Its output goes to ``folder.parent / "chroma-server.log"`` (quoted when it fails to start)."""

    host = "127.0.0.1"

    def __init__(self, folder: Path) -> None:
        command = chroma_command()
        if command is None:
            pytest.skip("the `chroma` command is not installed")
        self.command, self.folder, self.port = command, folder, free_port()
        self.log_path = folder.parent / "chroma-server.log"
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> ChromaServer:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.command, "run", "--path", str(self.folder), "--host", self.host,
                 "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._alive():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                output = self.log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"chroma run did not come up on {self.address}:\n{output}")
            time.sleep(0.1)
        return self

    def _alive(self) -> bool:
        try:
            url = f"http://{self.address}/api/v2/heartbeat"
            with urllib.request.urlopen(url, timeout=2) as reply:
                return reply.status == 200
        except OSError:
            return False

    def empty(self) -> None:
        """Delete every collection, so the next test's gallery starts on a clean server."""
        base = f"http://{self.address}/api/v2/tenants/default_tenant/databases/default_database"
        with urllib.request.urlopen(f"{base}/collections", timeout=10) as reply:
            names = [found["name"] for found in json.load(reply)]
        for name in names:  # through the REST API: the client would rebuild embedding functions
            request = urllib.request.Request(f"{base}/collections/{name}", method="DELETE")
            urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        """Stop it as an operator would (SIGTERM), killing it if it lingers."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """Stop it at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
