# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reach PostgreSQL from a managed host: DATABASE_URL parsing and query runners.

Three ways in, all read-only (every session sets ``default_transaction_read_only``):

* ``psycopg`` (v3) or ``psycopg2`` when the host has one;
* the ``psql`` client on the host;
* ``psql`` inside the stack's postgres container (``docker exec``), so the host
  needs neither a Python driver nor a PostgreSQL client. A Compose service is
  resolved to its container with ``docker compose ps -q``.

Passwords never appear on a command line: they travel in the ``PGPASSWORD``
environment variable (``docker exec -e PGPASSWORD`` copies it from the caller's
environment).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

try:
    import psycopg  # type: ignore[import-not-found]

    HAS_PSYCOPG = True
except ImportError:  # pragma: no cover - depends on the host
    psycopg = None
    HAS_PSYCOPG = False

try:
    import psycopg2  # type: ignore[import-not-found]

    HAS_PSYCOPG2 = True
except ImportError:  # pragma: no cover - depends on the host
    psycopg2 = None
    HAS_PSYCOPG2 = False

READ_ONLY_OPTIONS = "-c default_transaction_read_only=on"


class PgError(Exception):
    """A connection or query failed; the message names the cause and the fix."""


@dataclass
class ConnParams:
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    schema: str | None = None
    sslmode: str | None = None
    connect_timeout: int = 10

    def libpq_env(self) -> dict[str, str]:
        """The libpq environment for these parameters (PGHOST, PGPASSWORD, ...)."""
        env = {
            "PGHOST": self.host,
            "PGPORT": str(self.port) if self.port else None,
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": self.database,
            "PGSSLMODE": self.sslmode,
            "PGCONNECT_TIMEOUT": str(self.connect_timeout),
            "PGOPTIONS": READ_ONLY_OPTIONS,
            "PGAPPNAME": "fleetpulse.dr",
        }
        return {k: v for k, v in env.items() if v}


def parse_database_url(url: str) -> ConnParams:
    """Parse a libpq/Prisma URL: ``postgresql://user:pass@host:port/db?schema=public&sslmode=require``.

    Percent-encoded user names and passwords are decoded. Prisma's own parameters
    (``schema``, ``connection_limit``, ``pool_timeout``, ``pgbouncer``...) are accepted;
    only ``schema``, ``sslmode``, ``host`` (a socket directory) and ``connect_timeout`` are used.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise PgError(f"DATABASE_URL cannot be parsed ({exc}); "
                      "expected postgresql://USER:PASSWORD@HOST:PORT/DB") from exc
    if parts.scheme not in ("postgresql", "postgres"):
        raise PgError("DATABASE_URL must start with postgresql:// (or postgres://), e.g. "
                      "postgresql://fleetpulse:PASSWORD@localhost:5432/fleetpulse?schema=public")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    try:
        port = parts.port
    except ValueError as exc:
        raise PgError(f"DATABASE_URL has an invalid port ({exc})") from exc
    params = ConnParams(
        host=unquote(parts.hostname) if parts.hostname else query.get("host"),
        port=port,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        database=unquote(parts.path.lstrip("/")) or None,
        schema=query.get("schema"),
        sslmode=query.get("sslmode"),
    )
    if "connect_timeout" in query and query["connect_timeout"].isdigit():
        params.connect_timeout = int(query["connect_timeout"])
    return params


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (``Tenant`` -> ``"Tenant"``)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote an SQL string literal (standard_conforming_strings, the default since 9.1)."""
    if "\x00" in value:
        raise PgError("NUL characters are not allowed in SQL strings")
    return "'" + value.replace("'", "''") + "'"


def explain_failure(text: str, where: str) -> str:
    """Turn a libpq/psql/docker error into a message naming the cause and the fix."""
    low = text.lower()
    detail = " ".join(text.strip().split())[-400:]
    if "password authentication failed" in low or "no password supplied" in low or "authentication failed" in low:
        hint = "wrong credentials: check login_user/login_password (or the user and password in DATABASE_URL)"
    elif "does not exist" in low and "database" in low:
        hint = "wrong database name: check login_db (or the path of DATABASE_URL)"
    elif "no such container" in low or "is not running" in low:
        hint = "the postgres container is not running: check the container name (docker ps) and start the stack"
    elif "connection refused" in low or "could not connect" in low or "timeout expired" in low \
            or "could not translate host name" in low or "no route to host" in low:
        hint = "PostgreSQL is unreachable: check login_host/login_port and that the server runs and listens"
    elif "permission denied" in low:
        hint = "the database user lacks the SELECT privilege on these tables: use the owner or a read-only role"
    else:
        hint = "see the server's message"
    return f"{hint} ({where}: {detail})"


class Runner:
    """Runs one SQL statement returning one value (text) and gives it back."""

    description = ""

    def scalar(self, sql: str) -> str | None:
        raise NotImplementedError

    def json(self, sql: str) -> Any:
        value = self.scalar(sql)
        if value is None:
            return None
        try:
            return json.loads(value)
        except ValueError as exc:
            raise PgError(f"unexpected output from {self.description}: {value[:200]!r}") from exc


class DriverRunner(Runner):
    """psycopg (3) or psycopg2 on the managed host."""

    def __init__(self, params: ConnParams) -> None:
        self.params = params
        self.description = f"PostgreSQL at {params.host or 'local socket'}:{params.port or 5432}"

    def _kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.params.host,
            "port": self.params.port,
            "user": self.params.user,
            "password": self.params.password,
            "dbname": self.params.database,
            "sslmode": self.params.sslmode,
            "connect_timeout": self.params.connect_timeout,
            "options": READ_ONLY_OPTIONS,
            "application_name": "fleetpulse.dr",
        }
        return {k: v for k, v in kwargs.items() if v is not None}

    def scalar(self, sql: str) -> str | None:
        module = psycopg if HAS_PSYCOPG else psycopg2
        try:
            conn = module.connect(**self._kwargs())
        except Exception as exc:
            raise PgError(explain_failure(str(exc), self.description)) from None
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                row = cur.fetchone()
            conn.rollback()
        except Exception as exc:
            raise PgError(explain_failure(str(exc), self.description)) from None
        finally:
            conn.close()
        if row is None or row[0] is None:
            return None
        return row[0] if isinstance(row[0], str) else json.dumps(row[0])


class PsqlRunner(Runner):
    """``psql`` on the host, or inside a container through ``docker exec``."""

    def __init__(self, params: ConnParams, container: str | None = None, docker: str = "docker",
                 psql: str = "psql", timeout: float = 600) -> None:
        self.params = params
        self.container = container
        self.docker = docker
        self.psql = psql
        self.timeout = timeout
        if container:
            self.description = f"psql in container {container}"
        else:
            self.description = f"psql to {params.host or 'local socket'}:{params.port or 5432}"

    def argv(self, extra: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
        """The command line and environment for a psql session (stdin carries the SQL)."""
        psql_args = [self.psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *(extra or [])]
        env = dict(os.environ)
        libpq = self.params.libpq_env()
        if not self.container:
            env.update(libpq)
            return psql_args, env
        # Inside the container: the local socket (the official image trusts it) unless a host is given.
        cmd = [self.docker, "exec", "-i"]
        for key in ("PGPASSWORD", "PGOPTIONS", "PGCONNECT_TIMEOUT", "PGSSLMODE", "PGAPPNAME"):
            if key in libpq:
                env[key] = libpq[key]
                cmd += ["-e", key]  # value taken from this process's environment, not the command line
        cmd.append(self.container)
        if self.params.host:
            psql_args += ["-h", self.params.host]
        if self.params.port:
            psql_args += ["-p", str(self.params.port)]
        if self.params.user:
            psql_args += ["-U", self.params.user]
        if self.params.database:
            psql_args += ["-d", self.params.database]
        return cmd + psql_args, env

    def scalar(self, sql: str) -> str | None:
        cmd, env = self.argv()
        try:
            res = subprocess.run(cmd, input=sql.encode(), capture_output=True, env=env, timeout=self.timeout,
                                 check=False)
        except FileNotFoundError as exc:
            raise PgError(f"{cmd[0]} is not installed on the managed host ({exc.strerror}): install the "
                          "PostgreSQL client, the Python driver psycopg, or count inside the container") from None
        except subprocess.TimeoutExpired:
            raise PgError(f"{self.description} did not answer within {self.timeout:.0f}s") from None
        if res.returncode != 0:
            raise PgError(explain_failure(res.stderr.decode(errors="replace"), self.description))
        out = res.stdout.decode(errors="replace").strip()
        return out or None


def compose_container(project_dir: str, service: str, files: list[str] | None = None,
                      project_name: str | None = None, docker: str = "docker") -> str:
    """The id of the running container of a Compose service (``docker compose ps -q SERVICE``)."""
    cmd = [docker, "compose", "--project-directory", project_dir]
    for item in files or []:
        cmd += ["-f", item]
    if project_name:
        cmd += ["-p", project_name]
    cmd += ["ps", "-q", "--status", "running", service]
    try:
        # cwd: Compose resolves relative -f paths against the working directory, not --project-directory.
        res = subprocess.run(cmd, capture_output=True, timeout=60, check=False, cwd=project_dir)
    except FileNotFoundError as exc:
        if exc.filename == project_dir:
            raise PgError(f"compose_project_dir {project_dir} does not exist") from None
        raise PgError("docker is not installed on the managed host: the compose_* options need "
                      "Docker Compose v2") from None
    if res.returncode != 0:
        raise PgError(f"docker compose failed in {project_dir}: "
                      f"{' '.join(res.stderr.decode(errors='replace').split())[-300:]}")
    ids = res.stdout.decode().split()
    if not ids:
        raise PgError(f"the Compose service {service!r} has no running container in {project_dir}: start the "
                      f"stack (docker compose up -d {service}) or check compose_service")
    return ids[0]


def make_runner(params: ConnParams, container: str | None = None, prefer: str = "auto") -> Runner:
    """Pick a runner: a container wins; then a Python driver; then the psql client."""
    if container:
        return PsqlRunner(params, container=container)
    if prefer in ("auto", "driver") and (HAS_PSYCOPG or HAS_PSYCOPG2):
        return DriverRunner(params)
    if prefer == "driver":
        raise PgError("no PostgreSQL driver (psycopg or psycopg2) on the managed host")
    if shutil.which("psql") is None:
        raise PgError("neither psycopg/psycopg2 nor the psql client is installed on the managed host: install "
                      "one (apt-get install postgresql-client) or count inside the postgres container "
                      "(container or compose_service)")
    return PsqlRunner(params)
