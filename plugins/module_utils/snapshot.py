# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Row counts in the same snapshot as a dump (for the backup manifest).

A manifest's ``row_counts`` are only worth comparing with a restore if they describe
exactly the data in the dump. PostgreSQL makes that possible: a REPEATABLE READ
transaction exports its snapshot (``pg_export_snapshot()``), ``pg_dump --snapshot=ID``
dumps that very snapshot, and the counts are taken inside the exporting transaction.
The exporting transaction must stay open until pg_dump has started; this class keeps
it open for the whole ``with`` block::

    runner = PsqlRunner(params, container="postgres")      # or on the host
    with SnapshotSession(runner) as snap:
        counts = snap.counts(tables, per_tenant=True)      # same snapshot as the dump
        subprocess.run(["docker", "exec", "postgres", "pg_dump", f"--snapshot={snap.snapshot_id}", ...])

It drives one ``psql`` process over pipes (host or ``docker exec -i``), so the
managed host needs no Python driver.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from ansible_collections.fleetpulse.dr.plugins.module_utils.pg import PgError, PsqlRunner, explain_failure
from ansible_collections.fleetpulse.dr.plugins.module_utils.pgcounts import (
    CountResult,
    counts_sql,
    discovery_sql,
)


class SnapshotSession:
    """An open REPEATABLE READ, READ ONLY transaction that exported its snapshot."""

    def __init__(self, runner: PsqlRunner) -> None:
        self.runner = runner
        self.snapshot_id = ""
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> SnapshotSession:
        cmd, env = self.runner.argv()
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=env)
        self._send("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;")
        self.snapshot_id = self._query("SELECT pg_export_snapshot();")
        return self

    def _send(self, sql: str) -> None:
        if self._proc is None or self._proc.stdin is None:
            raise PgError("the snapshot session is not open (use it in a 'with' block)")
        text = sql.strip()
        self._proc.stdin.write((text if text.endswith(";") else text + ";").encode() + b"\n")
        self._proc.stdin.flush()

    def _query(self, sql: str) -> str:
        """Send one statement returning one value; psql flushes each result, so read one line."""
        if self._proc is None or self._proc.stdout is None:
            raise PgError("the snapshot session is not open (use it in a 'with' block)")
        self._send(sql)
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=30)
            err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
            raise PgError(explain_failure(err or "psql exited", self.runner.description))
        return line.decode().strip()

    def json(self, sql: str) -> Any:
        return json.loads(self._query(sql))

    def counts(self, tables: list[tuple[str, str]], per_tenant: bool = False,
               tenant_column: str = "tenantId") -> CountResult:
        """Exact counts (and per-tenant counts) inside the exported snapshot."""
        found = self.json(discovery_sql(tables, tenant_column if per_tenant else None)) or []
        missing = [f"{r['schema']}.{r['table']}" for r in found if not r["exists"]]
        if missing:
            raise PgError(f"table(s) not found: {', '.join(missing)}")
        tenant_tables = [(r["schema"], r["table"]) for r in found if per_tenant and r["tenant"]]
        data = self.json(counts_sql(tables, False, tenant_tables, tenant_column))
        return CountResult(
            totals=data["totals"], per_tenant=data["per_tenant"] or {}, database=data["database"],
            server_version=data["server_version"], taken_at=data["taken_at"],
            tenant_tables=[f"{s}.{t}" for s, t in tenant_tables],
            skipped_tenant_tables=[f"{r['schema']}.{r['table']}" for r in found if per_tenant and not r["tenant"]],
        )

    def __exit__(self, *exc: object) -> None:
        if self._proc is None:
            return
        try:
            if self._proc.poll() is None:
                self._send("COMMIT;")
                self._proc.stdin.close()  # type: ignore[union-attr]
            self._proc.wait(timeout=60)
        finally:
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
