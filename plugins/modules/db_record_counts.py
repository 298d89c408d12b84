#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: db_record_counts
short_description: Count rows of FleetPulse tables and compare them with what a backup holds
version_added: 0.1.0
description:
  - Counts the rows of the given tables of a PostgreSQL database (the plan's spot-check of C(Tenant),
    C(Booking), C(Vehicle) and C(Customer)), optionally per tenant.
  - Compares them with expected counts, given literally or read from a backup manifest (whose counts were
    taken in the dump's snapshot), with per-table tolerances. A mismatch fails the task with a table of
    expected against actual counts; counts and differences are returned either way.
  - Per-tenant counts group every table that has the tenant column (O(tenant_column)), so a restore that lost
    one tenant's rows cannot pass because the totals look plausible.
  - All counts of one run come from one SQL statement, so they see one consistent snapshot.
  - Reaches the database directly (psycopg, psycopg2 or the psql client on the managed host), or runs
    C(psql) inside the stack's postgres container (O(container) or O(compose_service)), so the managed host
    needs no driver.
  - Never writes; every session is read-only (C(default_transaction_read_only)). C(changed) is always false.
author:
  - FleetPulse Platform Engineering (@fleetpulse)
extends_documentation_fragment:
  - fleetpulse.dr.postgres
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode counts as usual.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
options:
  tables:
    description:
      - Tables to count. Names are case-sensitive as in PostgreSQL (Prisma creates quoted CamelCase names); an
        unqualified name is in O(schema), C(other.Table) names another schema.
      - Tables named in the expected counts are counted too.
    type: list
    elements: str
    default: [Tenant, Booking, Vehicle, Customer]
  schema:
    description:
      - Schema of unqualified table names. Default is the C(schema) parameter of O(database_url), else C(public).
    type: str
  estimate:
    description:
      - Read the planner's estimates (C(pg_class.reltuples), kept by ANALYZE and autovacuum) instead of counting,
        for huge tables. Estimates are approximate, so give a tolerance when comparing them.
      - Tables never analyzed have no estimate (null). Not combinable with O(per_tenant).
    type: bool
    default: false
  per_tenant:
    description:
      - Also count rows per tenant in every counted table that has the column O(tenant_column).
    type: bool
    default: false
  tenant_column:
    description: The column holding the tenant id (Prisma's C(tenantId)).
    type: str
    default: tenantId
  expected:
    description:
      - Expected row counts by table name (as in O(tables), or C(schema.table)).
    type: dict
  expected_per_tenant:
    description:
      - Expected per-tenant counts, by table, then by tenant id. A tenant with no rows counts as 0.
      - Implies O(per_tenant).
    type: dict
  expected_from_manifest:
    description:
      - Path (on the managed host) of a backup manifest whose C(row_counts) (and C(tenant_row_counts), used when
        O(per_tenant) is set) are the expected counts. Literal O(expected) values take precedence.
      - Only tables in O(tables) or O(expected) are compared.
    type: path
  tolerance:
    description:
      - Allowed difference for every table without its own entry in O(tolerances), as a number of rows (V(5))
        or a percentage of the expected count (V(2%)).
    type: str
    default: "0"
  tolerances:
    description:
      - Allowed difference by table, as a number of rows or a percentage (V(1%)). Applies to the table's
        per-tenant counts too.
    type: dict
    default: {}
  fail_on_mismatch:
    description:
      - Fail when a count differs from the expected one by more than its tolerance. With V(false) the
        differences are returned with RV(matched=false).
    type: bool
    default: true
notes:
  - Exact counts read every row (C(count(*))); on tables of many millions of rows use O(estimate).
seealso:
  - module: fleetpulse.dr.backup_verify
"""

EXAMPLES = r"""
- name: The plan's spot-check, inside the stack's postgres container
  fleetpulse.dr.db_record_counts:
    compose_project_dir: /opt/fleetpulse
    compose_files: [docker-compose.prod.yml]
    compose_service: postgres
    login_user: "{{ fleetpulse_db_user }}"
    login_db: fleetpulse_dr_test
  register: counts

- name: After a restore, compare with the counts the backup's manifest took in the dump's snapshot
  fleetpulse.dr.db_record_counts:
    container: postgres
    login_user: "{{ fleetpulse_db_user }}"
    login_db: fleetpulse
    per_tenant: true
    expected_from_manifest: /opt/fleetpulse/backups/car_rental_backup_20260206_020000.sql.gz.manifest.json

- name: Count through the app's DATABASE_URL, with a tolerance for a live database
  fleetpulse.dr.db_record_counts:
    database_url: "{{ vault_fleetpulse_database_url }}"
    expected: {Tenant: 12, Booking: 48210}
    tolerances: {Booking: "1%"}

- name: Estimates only, for a quick look at huge tables
  fleetpulse.dr.db_record_counts:
    database_url: "{{ vault_fleetpulse_database_url }}"
    tables: [Booking, AuditLog]
    estimate: true
"""

RETURN = r"""
counts:
  description: Row count (or estimate) by table name as given in O(tables); null for an estimate never taken.
  returned: always
  type: dict
  sample: {Tenant: 12, Booking: 48210, Vehicle: 310, Customer: 5122}
tenant_counts:
  description: Rows per tenant, by table, then by tenant id (tables with the tenant column only).
  returned: when O(per_tenant)
  type: dict
  sample: {Booking: {tenant0001: 4000, tenant0002: 44210}}
differences:
  description:
    - One row per compared table with C(table), C(expected), C(actual), C(difference) (actual minus expected),
      C(tolerance), C(allowed) (difference allowed, in rows) and C(ok).
  returned: always
  type: list
  elements: dict
  sample: [{table: Booking, expected: 48210, actual: 48190, difference: -20, tolerance: "0", allowed: 0, ok: false}]
tenant_differences:
  description: Per-tenant comparison rows that are not ok (C(table) is C(Table/tenant)).
  returned: always
  type: list
  elements: dict
mismatches:
  description: Number of compared counts (tables and tenants) outside their tolerance.
  returned: always
  type: int
  sample: 0
matched:
  description: Whether every compared count is within its tolerance (true when nothing was compared).
  returned: always
  type: bool
  sample: true
compared:
  description: Number of counts compared (tables plus per-tenant counts).
  returned: always
  type: int
  sample: 4
report:
  description: The comparison as a text table (what a failure shows).
  returned: always
  type: str
method:
  description: C(exact) or C(estimate).
  returned: always
  type: str
  sample: exact
via:
  description: How the database was reached (C(psycopg), C(psql), or C(psql in container NAME)).
  returned: always
  type: str
  sample: psql in container postgres
database:
  description: The database counted (C(current_database())).
  returned: always
  type: str
  sample: fleetpulse
server_version:
  description: The server's version.
  returned: always
  type: str
  sample: "15.18 (Debian 15.18-0+deb12u1)"
taken_at:
  description: When the counts were taken (UTC, the statement's start).
  returned: always
  type: str
  sample: "2026-02-06T03:10:00Z"
skipped_tenant_tables:
  description: Counted tables without the tenant column, so without per-tenant counts.
  returned: when O(per_tenant)
  type: list
  elements: str
  sample: [Tenant]
summary:
  description: One line with the numbers.
  returned: always
  type: str
  sample: "fleetpulse: 4 tables, 65654 rows (exact); 4 compared, 0 mismatches"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetpulse.dr.plugins.module_utils import manifest as mf
from ansible_collections.fleetpulse.dr.plugins.module_utils.pg import (
    HAS_PSYCOPG,
    ConnParams,
    DriverRunner,
    PgError,
    compose_container,
    make_runner,
    parse_database_url,
)
from ansible_collections.fleetpulse.dr.plugins.module_utils.pgcounts import (
    compare,
    parse_tolerance,
    render_table,
    split_table,
    take_counts,
)


def argument_spec() -> dict:
    return {
        "tables": {"type": "list", "elements": "str", "default": ["Tenant", "Booking", "Vehicle", "Customer"]},
        "schema": {"type": "str"},
        "estimate": {"type": "bool", "default": False},
        "per_tenant": {"type": "bool", "default": False},
        "tenant_column": {"type": "str", "default": "tenantId"},
        "expected": {"type": "dict"},
        "expected_per_tenant": {"type": "dict"},
        "expected_from_manifest": {"type": "path"},
        "tolerance": {"type": "str", "default": "0"},
        "tolerances": {"type": "dict", "default": {}},
        "fail_on_mismatch": {"type": "bool", "default": True},
        # connection (doc fragment fleetpulse.dr.postgres)
        "database_url": {"type": "str", "no_log": True},
        "login_host": {"type": "str"},
        "login_port": {"type": "int"},
        "login_user": {"type": "str"},
        "login_password": {"type": "str", "no_log": True},
        "login_db": {"type": "str"},
        "connect_timeout": {"type": "int", "default": 10},
        "ssl_mode": {"type": "str", "choices": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]},
        "container": {"type": "str"},
        "compose_service": {"type": "str"},
        "compose_project_dir": {"type": "path"},
        "compose_files": {"type": "list", "elements": "str", "default": []},
        "compose_project_name": {"type": "str"},
    }


def connection(module: AnsibleModule) -> tuple[ConnParams, str | None]:
    p = module.params
    params = ConnParams()
    if p["database_url"]:
        try:
            params = parse_database_url(p["database_url"])
        except PgError as exc:
            module.fail_json(msg=str(exc))
    in_container = bool(p["container"] or p["compose_service"])
    if in_container and not p["login_host"]:
        # The URL's host is where the app finds the server; inside the container the local socket is the way in.
        params.host, params.port = None, None
    for opt, attr in (("login_host", "host"), ("login_port", "port"), ("login_user", "user"),
                      ("login_password", "password"), ("login_db", "database"), ("ssl_mode", "sslmode")):
        if p[opt] is not None:
            setattr(params, attr, p[opt])
    params.connect_timeout = p["connect_timeout"]
    container = p["container"]
    if p["compose_service"]:
        try:
            container = compose_container(p["compose_project_dir"], p["compose_service"], p["compose_files"],
                                          p["compose_project_name"])
        except PgError as exc:
            module.fail_json(msg=str(exc))
    return params, container


class Names:
    """Table names: ``schema.table`` keys inside, the user's spelling (``Tenant``) outside."""

    def __init__(self, schema: str) -> None:
        self.schema = schema

    def key(self, name: str) -> str:
        s, t = split_table(name, self.schema)
        return f"{s}.{t}"

    def display(self, qualified: str) -> str:
        s, _dot, t = qualified.partition(".")
        return t if s == self.schema else qualified


def gather_expected(module: AnsibleModule, names: Names, per_tenant: bool) -> tuple[dict, dict]:
    """Expected totals and per-tenant counts: the manifest first, literal values on top."""
    p = module.params
    expected: dict[str, int] = {}
    expected_tenants: dict[str, dict[str, int]] = {}
    manifest_file = p["expected_from_manifest"]
    if manifest_file:
        try:
            man = mf.read(manifest_file)
        except mf.ManifestError as exc:
            module.fail_json(msg=f"{exc}: fix expected_from_manifest (the backup's <file>.manifest.json)")
        wanted = {names.key(t) for t in [*p["tables"], *(p["expected"] or {})]}
        expected.update({k: v for k, v in man["row_counts"].items() if k in wanted})
        if not expected:
            module.fail_json(msg=f"manifest {manifest_file} has no row counts for {', '.join(sorted(wanted))} "
                                 f"(it has {', '.join(man['row_counts']) or 'none'})")
        if per_tenant:
            expected_tenants.update({k: v for k, v in (man.get("tenant_row_counts") or {}).items() if k in wanted})
    for name, value in (p["expected"] or {}).items():
        try:
            expected[names.key(name)] = int(value)
        except (TypeError, ValueError):
            module.fail_json(msg=f"expected[{name!r}] must be a whole number of rows, got {value!r}")
    for name, tenants in (p["expected_per_tenant"] or {}).items():
        if not isinstance(tenants, dict):
            module.fail_json(msg=f"expected_per_tenant[{name!r}] must map tenant ids to row counts")
        expected_tenants[names.key(name)] = {str(t): int(n) for t, n in tenants.items()}
    return expected, expected_tenants


def compare_tenants(expected_tenants: dict[str, dict[str, int]], actual: dict[str, dict[str, int]],
                    tolerances: dict[str, object], default_tolerance: object, names: Names) -> list[dict]:
    """Per-tenant rows; a tenant missing on either side counts as 0 rows there."""
    rows: list[dict] = []
    for tkey, exp in expected_tenants.items():
        got = actual.get(tkey)
        if got is None:
            rows.append({"table": names.display(tkey), "expected": sum(exp.values()), "actual": None,
                         "difference": None, "tolerance": "", "allowed": 0, "ok": False})
            continue
        tenants = sorted(set(exp) | set(got))
        full_exp = {t: exp.get(t, 0) for t in tenants}
        full_act = {t: got.get(t, 0) for t in tenants}
        for r in compare(full_act, full_exp, {}, tolerances.get(tkey, default_tolerance), label="tenant"):
            r["table"] = f"{names.display(tkey)}/{r.pop('tenant')}"
            rows.append(r)
    return rows


def report_text(rows: list[dict], bad_tenants: list[dict]) -> str:
    report = render_table(rows) if rows else "(nothing compared)"
    if bad_tenants:
        report += "\n\nper tenant (mismatches only):\n" + render_table(bad_tenants[:50])
        if len(bad_tenants) > 50:
            report += f"\n... and {len(bad_tenants) - 50} more"
    return report


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("container", "compose_service"), ("estimate", "per_tenant"),
                            ("estimate", "expected_per_tenant")],
        required_by={"compose_service": "compose_project_dir"},
        supports_check_mode=True,
    )
    p = module.params
    params, container = connection(module)
    names = Names(p["schema"] or params.schema or "public")
    try:
        for tol in [p["tolerance"], *p["tolerances"].values()]:
            parse_tolerance(tol)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    per_tenant = p["per_tenant"] or bool(p["expected_per_tenant"])
    expected, expected_tenants = gather_expected(module, names, per_tenant)
    table_keys = list(dict.fromkeys([names.key(t) for t in p["tables"]] + list(expected) + list(expected_tenants)))

    try:
        runner = make_runner(params, container)
        counted = take_counts(runner, [tuple(k.split(".", 1)) for k in table_keys], estimate=p["estimate"],
                              per_tenant=per_tenant, tenant_column=p["tenant_column"])
    except PgError as exc:
        module.fail_json(msg=f"counting rows failed: {exc}")
    if isinstance(runner, DriverRunner):
        via = "psycopg" if HAS_PSYCOPG else "psycopg2"
    else:
        via = f"psql in container {p['container'] or p['compose_service']}" if container else "psql"

    tolerances = {names.key(t): v for t, v in p["tolerances"].items()}
    rows = compare(counted.totals, expected, tolerances, p["tolerance"])
    for r in rows:
        r["table"] = names.display(r["table"])
    tenant_rows = compare_tenants(expected_tenants, counted.per_tenant, tolerances, p["tolerance"], names)
    bad_tenants = [r for r in tenant_rows if not r["ok"]]
    mismatches = sum(1 for r in rows if not r["ok"]) + len(bad_tenants)
    report = report_text(rows, bad_tenants)
    counts = {names.display(k): v for k, v in counted.totals.items()}
    total = sum(v for v in counts.values() if v is not None)
    compared = len(rows) + len(tenant_rows)
    method = "estimate" if p["estimate"] else "exact"
    result = {
        "changed": False,
        "counts": counts,
        "differences": rows,
        "tenant_differences": bad_tenants,
        "mismatches": mismatches,
        "matched": mismatches == 0,
        "compared": compared,
        "report": report,
        "method": method,
        "via": via,
        "database": counted.database,
        "server_version": counted.server_version,
        "taken_at": counted.taken_at,
        "summary": (f"{counted.database}: {len(counts)} tables, {total} rows ({method}); "
                    f"{compared} compared, {mismatches} mismatches"),
    }
    if per_tenant:
        result["tenant_counts"] = {names.display(k): v for k, v in counted.per_tenant.items()}
        result["skipped_tenant_tables"] = [names.display(k) for k in counted.skipped_tenant_tables]
    if mismatches and p["fail_on_mismatch"]:
        module.fail_json(msg=f"row counts of database {counted.database} differ from the expected counts "
                             f"({mismatches} mismatch(es)):\n{report}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
