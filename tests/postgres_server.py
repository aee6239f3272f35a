"""A real PostgreSQL server on 127.0.0.1 for the tests that need one: ``initdb`` into a temporary
folder, ``pg_ctl start`` on a free port, one fresh database per test, stopped at the end.

PostgreSQL refuses to run as root; as root (CI, this machine) the server runs as the
``postgres`` system user that Debian's package creates. Without the package the tests that
need it skip, saying why.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chroma_server import free_port

START_TIMEOUT_S = 60


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with ``initdb``, else PATH's."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """One server for the test session; ``database()`` gives each test a database of its own."""

    host = "127.0.0.1"

    def __init__(self, folder: Path) -> None:
        binaries = postgres_bin()
        if binaries is None:
            pytest.skip("PostgreSQL is not installed (Debian package `postgresql`)")
        self.bin, self.folder, self.port = binaries, folder, free_port()
        self.data_dir = folder / "data"
        self.log_path = folder / "server.log"
        self._names = itertools.count()

    def _as_server_user(self, *command: str) -> list[str]:
        if os.geteuid() != 0:
            return list(command)
        return ["runuser", "-u", "postgres", "--", *command]

    def _run(self, *command: str) -> None:
        done = subprocess.run(
            self._as_server_user(*command), capture_output=True, text=True, timeout=120
        )
        if done.returncode:
            log = self.log_path.read_text() if self.log_path.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}{log[-2000:]}")

    def start(self) -> PostgresServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        if not self.data_dir.exists():
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data_dir), "-A", "trust", "-U",
                "postgres", "--no-sync",
            )  # fmt: skip
        # wal_recycle=off: as the README asks of a server whose deletions must leave nothing
        # (a recycled log segment keeps its old rows until overwritten).
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses={self.host} -c fsync=off "
            "-c wal_recycle=off"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-o", options, "-l",
            str(self.log_path), "-w", "-t", str(START_TIMEOUT_S), "start",
        )  # fmt: skip
        return self

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "stop")

    def scan(self, *needles: bytes) -> dict[bytes, list[str]]:
        """Which files of the server's data folder hold each of ``needles``."""
        found: dict[bytes, list[str]] = {n: [] for n in needles}
        for path in sorted(self.data_dir.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                for needle in needles:
                    if needle in data:
                        found[needle].append(str(path.relative_to(self.data_dir)))
        return found

    def retire_old_log(self) -> None:
        """What the server does by itself within two checkpoints (``checkpoint_timeout``):
        start a new log segment and checkpoint, twice, so that with ``wal_recycle=off`` every
        segment written before is removed."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            for _ in range(2):
                connection.execute(text("SELECT pg_switch_wal()"))
                connection.execute(text("CHECKPOINT"))
        engine.dispose()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def database(self) -> str:
        """The URL of a new, empty database."""
        from sqlalchemy import create_engine, text

        name = f"test_{next(self._names)}"
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        engine.dispose()
        return self.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """Under /tmp, not pytest's folder: that one is private to root, and the server runs as
    the ``postgres`` user."""
    folder = Path(tempfile.mkdtemp(prefix="visionlab-postgres-"))
    try:
        server = PostgresServer(folder).start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
