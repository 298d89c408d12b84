"""`prisma migrate deploy` and `prisma migrate status`, reimplemented for the replica.

Behaves like Prisma on the points recovery depends on:
- migrations are the directories of prisma/migrations/, applied in name order, each
  recorded in "_prisma_migrations" (Prisma's own table and columns; checksum is the
  SHA-256 of migration.sql);
- an advisory lock (Prisma's key 72707369) keeps two deploys from racing;
- already applied migrations are skipped, so a second run prints
  "No pending migrations to apply." and changes nothing;
- a failed migration is recorded with finished_at NULL and blocks later deploys (P3009);
- a non-empty schema without "_prisma_migrations" is refused (P3005), as after a
  restore into the wrong database;
- every error exits non-zero.
"""

from __future__ import annotations

import hashlib
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from .config import Database

ADVISORY_LOCK_KEY = 72707369
MIGRATIONS_TABLE_DDL = """
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)
"""


class MigrationError(Exception):
    """A Prisma-style error: ``code`` (P3xxx) and a message saying what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"Error: {code}\n\n{message}")
        self.code = code


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def local_migrations(directory: Path) -> list[Migration]:
    if not directory.is_dir():
        raise MigrationError("P3015", f"Could not find the migrations directory at {directory}.")
    found = []
    for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
        script = sub / "migration.sql"
        if not script.is_file():
            raise MigrationError("P3015", f"Could not find the migration file at {script}. "
                                          "Please delete the directory or restore the migration file.")
        found.append(Migration(sub.name, script.read_text()))
    return found


def _table_exists(conn, schema: str, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()
    return row[0] is not None


def applied_rows(conn, schema: str) -> list[tuple]:
    """Rows of _prisma_migrations (name, checksum, finished_at, rolled_back_at, started_at), or [] if absent."""
    if not _table_exists(conn, schema, "_prisma_migrations"):
        return []
    return conn.execute(
        'SELECT migration_name, checksum, finished_at, rolled_back_at, started_at FROM "_prisma_migrations" '
        "ORDER BY started_at, migration_name").fetchall()


def pending(db: Database, directory: Path) -> tuple[list[str], list[str], list[str]]:
    """(applied, pending, failed) migration names: what the api's health check compares."""
    local = local_migrations(directory)
    with db.connect() as conn:
        rows = applied_rows(conn, db.schema)
    done = {r[0] for r in rows if r[2] is not None and r[3] is None}
    failed = sorted({r[0] for r in rows if r[2] is None and r[3] is None})
    return sorted(done), [m.name for m in local if m.name not in done], failed


def _header(db: Database, directory: Path, out) -> None:
    out.write(f"Prisma schema loaded from {directory.parent / 'schema.prisma'}\n")
    out.write(f'Datasource "db": PostgreSQL database "{db.display.rsplit("/", 1)[-1]}", schema "{db.schema}" '
              f'at "{db.display.rsplit("/", 1)[0]}"\n\n')


def deploy(db: Database, directory: Path, out=sys.stdout) -> int:
    """Apply pending migrations; return how many were applied. Raises MigrationError on failure."""
    migrations = local_migrations(directory)
    _header(db, directory, out)
    plural = "s" if len(migrations) != 1 else ""
    out.write(f"{len(migrations)} migration{plural} found in prisma/migrations\n\n")
    with db.connect(autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"')
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            return _deploy_locked(conn, db, migrations, out)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def _deploy_locked(conn, db: Database, migrations: list[Migration], out) -> int:
    if not _table_exists(conn, db.schema, "_prisma_migrations"):
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (db.schema,)).fetchone()[0]
        if tables:
            raise MigrationError("P3005", f'The database schema "{db.schema}" is not empty ({tables} tables) but has '
                                          "no _prisma_migrations table. Restore into an empty database, or baseline "
                                          "it: https://pris.ly/d/migrate-baseline")
        conn.execute(MIGRATIONS_TABLE_DDL)
    rows = applied_rows(conn, db.schema)
    failed = [r for r in rows if r[2] is None and r[3] is None]
    if failed:
        name, started = failed[0][0], failed[0][4]
        raise MigrationError("P3009", "migrate found failed migrations in the target database, new migrations will "
                                      f"not be applied.\nThe `{name}` migration started at {started} failed.\n"
                                      "Fix it, then mark it rolled back (prisma migrate resolve --rolled-back).")
    done = {r[0]: r[1] for r in rows if r[2] is not None and r[3] is None}
    for m in migrations:
        if m.name in done and done[m.name] != m.checksum:
            out.write(f"warning: migration `{m.name}` was modified after it was applied.\n")
    todo = [m for m in migrations if m.name not in done]
    if not todo:
        out.write("No pending migrations to apply.\n")
        return 0
    for m in todo:
        out.write(f"Applying migration `{m.name}`\n")
        out.flush()
        row_id = str(uuid.uuid4())
        conn.execute('INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, '
                     "applied_steps_count) VALUES (%s, %s, %s, clock_timestamp(), 0)", (row_id, m.checksum, m.name))
        try:
            with conn.transaction():
                conn.execute(m.sql.encode())
        except Exception as exc:
            conn.execute('UPDATE "_prisma_migrations" SET logs = %s WHERE id = %s', (str(exc), row_id))
            raise MigrationError("P3018", "A migration failed to apply. New migrations cannot be applied before the "
                                          f"error is recovered from.\n\nMigration name: {m.name}\n\n"
                                          f"Database error: {exc}") from exc
        conn.execute('UPDATE "_prisma_migrations" SET finished_at = clock_timestamp(), applied_steps_count = 1 '
                     "WHERE id = %s", (row_id,))
    out.write("\nThe following migration(s) have been applied:\n\nmigrations/\n")
    for m in todo:
        out.write(f"  └─ {m.name}/\n    └─ migration.sql\n")
    out.write("\nAll migrations have been successfully applied.\n")
    return len(todo)


def status(db: Database, directory: Path, out=sys.stdout) -> int:
    """Print the migration status; return 0 when up to date, 1 otherwise (as Prisma does)."""
    _header(db, directory, out)
    _applied, todo, failed = pending(db, directory)
    total = len(local_migrations(directory))
    out.write(f"{total} migration{'s' if total != 1 else ''} found in prisma/migrations\n\n")
    if failed:
        out.write("Following migration have failed:\n" + "".join(f"{n}\n" for n in failed))
        return 1
    if todo:
        out.write(f"Following migration{'s' if len(todo) != 1 else ''} have not yet been applied:\n")
        out.write("".join(f"{n}\n" for n in todo))
        out.write("\nTo apply migrations in production run prisma migrate deploy.\n")
        return 1
    out.write("Database schema is up to date!\n")
    return 0
