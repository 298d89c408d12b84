# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Row counts: the SQL that takes them, and the comparison with expected counts.

Shared by the ``db_record_counts`` module and by the backup tooling, which must take
the manifest's counts with the very same SQL in the dump's snapshot (see
``snapshot.py`` and docs/manifest.md). Every count of one call comes from ONE
statement, so all of them see the same snapshot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ansible_collections.fleetpulse.dr.plugins.module_utils.pg import PgError, Runner, quote_ident, quote_literal

DEFAULT_TABLES = ("Tenant", "Booking", "Vehicle", "Customer")
NULL_TENANT = "(null)"


def split_table(name: str, schema: str) -> tuple[str, str]:
    """``Tenant`` -> (schema, "Tenant"); ``audit.Event`` -> ("audit", "Event")."""
    if "." in name:
        sch, _dot, table = name.partition(".")
        return sch, table
    return schema, name


def discovery_sql(tables: list[tuple[str, str]], tenant_column: str | None) -> str:
    """One row of JSON: for every table, whether it exists and whether it has the tenant column."""
    values = ", ".join(f"({quote_literal(s)}, {quote_literal(t)}, {i})" for i, (s, t) in enumerate(tables))
    col = quote_literal(tenant_column or "")
    sql = f"""
SELECT json_agg(json_build_object(
         'schema', v.s, 'table', v.t,
         'exists', c.oid IS NOT NULL,
         'kind', c.relkind,
         'tenant', EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                           WHERE a.attrelid = c.oid AND a.attname = {col} AND a.attnum > 0 AND NOT a.attisdropped))
         ORDER BY v.i)
FROM (VALUES {values}) AS v(s, t, i)
LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = v.s
LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = v.t AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""  # noqa: S608 - every identifier and literal goes through quote_ident/quote_literal
    return sql


def counts_sql(tables: list[tuple[str, str]], estimate: bool = False,
               tenant_tables: list[tuple[str, str]] | None = None, tenant_column: str | None = None) -> str:
    """One statement (one snapshot) returning JSON ``{"totals": {...}, "per_tenant": {...}, ...}``.

    Keys are ``schema.table``. Exact counts use ``count(*)``; estimates read the planner's
    ``pg_class.reltuples`` (null when the table was never analyzed).
    """
    parts = []
    for schema, table in tables:
        key = quote_literal(f"{schema}.{table}")
        rel = f"{quote_ident(schema)}.{quote_ident(table)}"
        if estimate:
            value = (f"(SELECT CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END "  # noqa: S608 - every identifier and literal goes through quote_ident/quote_literal
                     f"FROM pg_catalog.pg_class c WHERE c.oid = {quote_literal(rel)}::regclass)")
        else:
            value = f"(SELECT count(*) FROM {rel})"  # noqa: S608 - every identifier and literal goes through quote_ident/quote_literal
        parts.append(f"SELECT {key} AS k, {value} AS n")
    totals = "SELECT json_object_agg(k, n) FROM (" + " UNION ALL ".join(parts) + ") AS totals"  # noqa: S608 - every identifier and literal goes through quote_ident/quote_literal
    per_tenant_parts = []
    col = quote_ident(tenant_column) if tenant_column else None
    for schema, table in tenant_tables or []:
        key = quote_literal(f"{schema}.{table}")
        rel = f"{quote_ident(schema)}.{quote_ident(table)}"
        per_tenant_parts.append(
            f"SELECT {key} AS k, (SELECT coalesce(json_object_agg(g.tenant, g.n), '{{}}'::json) FROM "  # noqa: S608 - every identifier and literal goes through quote_ident/quote_literal
            f"(SELECT coalesce({col}::text, {quote_literal(NULL_TENANT)}) AS tenant, count(*) AS n "
            f"FROM {rel} GROUP BY 1) AS g) AS v")
    if per_tenant_parts:
        per_tenant = "SELECT json_object_agg(k, v) FROM (" + " UNION ALL ".join(per_tenant_parts) + ") AS pt"  # noqa: S608 - every identifier and literal goes through quote_ident/quote_literal
    else:
        per_tenant = "SELECT '{}'::json"
    return (f"SELECT json_build_object('totals', ({totals}), 'per_tenant', ({per_tenant}), "
            f"'database', current_database(), 'server_version', current_setting('server_version'), "
            f"'taken_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))")


@dataclass
class CountResult:
    totals: dict[str, int | None]
    per_tenant: dict[str, dict[str, int]]
    database: str
    server_version: str
    taken_at: str
    tenant_tables: list[str]
    skipped_tenant_tables: list[str]


def take_counts(runner: Runner, tables: list[tuple[str, str]], estimate: bool = False,
                per_tenant: bool = False, tenant_column: str = "tenantId") -> CountResult:
    """Discover the tables, then count them in one statement. Raises PgError naming missing tables."""
    found = runner.json(discovery_sql(tables, tenant_column if per_tenant else None)) or []
    missing = [f"{row['schema']}.{row['table']}" for row in found if not row["exists"]]
    if missing:
        raise PgError(f"table(s) not found: {', '.join(missing)}; is this the right database? (table names are "
                      "case-sensitive: Prisma creates quoted CamelCase names such as \"Tenant\")")
    tenant_tables = [(r["schema"], r["table"]) for r in found if r["tenant"]] if per_tenant else []
    skipped = [f"{r['schema']}.{r['table']}" for r in found if per_tenant and not r["tenant"]]
    data = runner.json(counts_sql(tables, estimate, tenant_tables, tenant_column))
    if not isinstance(data, dict):
        raise PgError(f"unexpected answer from {runner.description}: {data!r}")
    return CountResult(
        totals=data.get("totals") or {},
        per_tenant=data.get("per_tenant") or {},
        database=data.get("database", ""),
        server_version=data.get("server_version", ""),
        taken_at=data.get("taken_at", ""),
        tenant_tables=[f"{s}.{t}" for s, t in tenant_tables],
        skipped_tenant_tables=skipped,
    )


# --------------------------------------------------------------------------- comparison

def parse_tolerance(value: object) -> tuple[float, bool]:
    """``5`` -> (5, absolute); ``"2%"`` -> (2, percent). Negative values are refused."""
    text = str(value).strip()
    percent = text.endswith("%")
    try:
        number = float(text[:-1] if percent else text)
    except ValueError:
        raise ValueError(f"tolerance {value!r} is neither a number of rows nor a percentage like '2%'") from None
    if number < 0 or math.isnan(number):
        raise ValueError(f"tolerance {value!r} must not be negative")
    return number, percent


def allowed_difference(expected: int, tolerance: object) -> int:
    number, percent = parse_tolerance(tolerance)
    return math.floor(expected * number / 100) if percent else math.floor(number)


def compare(actual: dict[str, int | None], expected: dict[str, int], tolerances: dict[str, object],
            default_tolerance: object = 0, label: str = "table") -> list[dict]:
    """One row per expected key: expected, actual, difference, allowed difference, ok."""
    rows = []
    for key, value in expected.items():
        exp = int(value)
        act = actual.get(key)
        tol = tolerances.get(key, default_tolerance)
        allowed = allowed_difference(exp, tol)
        if act is None:
            rows.append({label: key, "expected": exp, "actual": None, "difference": None,
                         "tolerance": str(tol), "allowed": allowed, "ok": False})
            continue
        diff = int(act) - exp
        rows.append({label: key, "expected": exp, "actual": int(act), "difference": diff,
                     "tolerance": str(tol), "allowed": allowed, "ok": abs(diff) <= allowed})
    return rows


def render_table(rows: list[dict], label: str = "table") -> str:
    """A fixed-width text table of comparison rows (for failure messages and logs)."""
    header = [label, "expected", "actual", "diff", "allowed", "result"]
    body = []
    for r in rows:
        diff = "" if r["difference"] is None else f"{r['difference']:+d}"
        body.append([str(r[label]), str(r["expected"]), "missing" if r["actual"] is None else str(r["actual"]),
                     diff, str(r["allowed"]), "ok" if r["ok"] else "MISMATCH"])
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=False)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=False)))
             for row in [header, *body]]
    return "\n".join(lines)
