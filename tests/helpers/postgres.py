"""A real PostgreSQL server for the tests: initdb into a temporary folder, start on a free local port,
password authentication, stopped (and its folder removed) at the end.

Run by hand (the README's multi-machine section does the same):

    python tests/helpers/postgres.py start /tmp/pg 55432   # prints the URL; stop with `... stop /tmp/pg`
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

USER, PASSWORD = "cnn", "s3cret-pw"


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def available() -> bool:
    return _bin("initdb") is not None and _bin("pg_ctl") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One server; `url(db)` gives a URL with the password, `create_database` makes a fresh one."""

    def __init__(self, folder: Path | None = None, port: int | None = None) -> None:
        # Not under pytest's tmp_path: as root the server runs as `postgres`, which cannot enter it.
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="cnn-tune-pg-"))
        self.data = self.folder / "data"
        self.port = port or free_port()
        # PostgreSQL refuses to run as root: as root, run it as the `postgres` system user.
        self.as_user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [*args]
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done

    def start(self) -> PostgresServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        password_file = self.folder / "pw"
        password_file.write_text(PASSWORD + "\n")
        if self.as_user:
            owner = pwd.getpwnam(self.as_user)
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            os.chown(password_file, owner.pw_uid, owner.pw_gid)
        self._run(
            _bin("initdb") or "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        )
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(
            _bin("pg_ctl") or "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "log"),
            "-w",
            "start",
        )
        return self

    def stop(self, remove: bool = True) -> None:
        if self.data.exists():
            subprocess.run(
                [
                    *(["runuser", "-u", self.as_user, "--"] if self.as_user else []),
                    _bin("pg_ctl") or "pg_ctl",
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                capture_output=True,
                timeout=60,
            )
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


if __name__ == "__main__":
    action, folder = sys.argv[1], Path(sys.argv[2])
    server = PostgresServer(folder, int(sys.argv[3]) if len(sys.argv) > 3 else None)
    if action == "start":
        server.start()
        print(server.url())
    else:
        server.stop(remove=False)
