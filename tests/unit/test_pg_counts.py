# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DATABASE_URL parsing, SQL quoting, count comparison (plugins/module_utils/pg.py, pgcounts.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))
from ansible_collections.fleetpulse.dr.plugins.module_utils.pg import (
    ConnParams,
    PgError,
    PsqlRunner,
    explain_failure,
    parse_database_url,
    quote_ident,
    quote_literal,
)
from ansible_collections.fleetpulse.dr.plugins.module_utils.pgcounts import (
    allowed_difference,
    compare,
    counts_sql,
    parse_tolerance,
    render_table,
)


def test_prisma_database_url() -> None:
    p = parse_database_url("postgresql://fleet%40pulse:p%40ss%3Aw%2Frd@db.internal:6432/fleetpulse"
                           "?schema=app&sslmode=require&connection_limit=5&connect_timeout=7")
    expected = ("fleet@pulse", "p@ss:w/rd", "db.internal", 6432, "fleetpulse")
    assert (p.user, p.password, p.host, p.port, p.database) == expected
    assert (p.schema, p.sslmode, p.connect_timeout) == ("app", "require", 7)
    assert "p@ss" not in repr(p)


def test_database_url_socket_and_errors() -> None:
    p = parse_database_url("postgres://u@/db?host=/var/run/postgresql")
    assert p.host == "/var/run/postgresql" and p.database == "db" and p.password is None
    with pytest.raises(PgError, match="must start with postgresql://"):
        parse_database_url("mysql://u:p@h/db")
    with pytest.raises(PgError, match="invalid port"):
        parse_database_url("postgresql://u:p@h:99999/db")


def test_quoting() -> None:
    assert quote_ident('we"ird') == '"we""ird"'
    assert quote_literal("it's") == "'it''s'"
    with pytest.raises(PgError):
        quote_literal("a\x00b")
    sql = counts_sql([("public", 'Ten"ant')], tenant_tables=[("public", 'Ten"ant')], tenant_column="tenantId")
    assert '"public"."Ten""ant"' in sql and "'public.Ten\"ant'" in sql and '"tenantId"::text' in sql


def test_password_never_on_the_command_line() -> None:
    runner = PsqlRunner(ConnParams(user="u", password="hunter2", database="db"), container="postgres")
    cmd, env = runner.argv()
    assert "hunter2" not in " ".join(cmd)
    assert cmd[:3] == ["docker", "exec", "-i"] and "-e" in cmd and "PGPASSWORD" in cmd
    assert env["PGPASSWORD"] == "hunter2"
    assert env["PGOPTIONS"] == "-c default_transaction_read_only=on"


@pytest.mark.parametrize(("text", "hint"), [
    ('FATAL:  password authentication failed for user "x"', "wrong credentials"),
    ('FATAL:  database "nope" does not exist', "wrong database name"),
    ("Error response from daemon: No such container: postgres", "container is not running"),
    ("connection to server at 127.0.0.1, port 1 failed: Connection refused", "unreachable"),
    ("ERROR:  permission denied for table Booking", "SELECT privilege"),
])
def test_failures_are_explained(text: str, hint: str) -> None:
    assert hint in explain_failure(text, "psql")


def test_tolerances() -> None:
    assert parse_tolerance("5") == (5, False)
    assert parse_tolerance("2%") == (2, True)
    assert allowed_difference(1000, "2%") == 20
    assert allowed_difference(49, "2%") == 0  # floor: 0.98 rows allowed is none
    for bad in ("-1", "x", "5%%"):
        with pytest.raises(ValueError, match="tolerance"):
            parse_tolerance(bad)


def test_compare_and_render() -> None:
    rows = compare({"a": 10, "b": 7, "c": None}, {"a": 10, "b": 10, "c": 1}, {"b": "30%"})
    assert [r["ok"] for r in rows] == [True, True, False]
    assert rows[1]["difference"] == -3 and rows[1]["allowed"] == 3
    strict = compare({"b": 7}, {"b": 10}, {})
    assert strict[0]["ok"] is False
    text = render_table(rows + strict)
    assert "missing" in text and "MISMATCH" in text and "-3" in text
    assert text.splitlines()[0].split() == ["table", "expected", "actual", "diff", "allowed", "result"]
