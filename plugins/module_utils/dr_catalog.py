# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The numbers of the FleetPulse DR plan in one place, and UTC time helpers.

Used by the incident_notify and dr_phase actions, the dr_timeline callback and the
dr_test_schedule module, so that a target (RTO, tier downtime, update cadence, test
frequency) is written once, with the plan section it comes from.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

UTC = datetime.timezone.utc  # noqa: UP017 - datetime.UTC is 3.11+, modules also run on older hosts

# Plan section 1: recovery objectives.
RPO_SECONDS = 24 * 3600
RTO_SECONDS = 4 * 3600
MTTR_SECONDS = 2 * 3600

# Plan section 1: service tiers (max downtime in minutes).
TIERS: dict[int, dict[str, Any]] = {
    1: {"name": "Critical", "services": ("api", "postgres", "nginx"), "max_downtime_minutes": 60,
        "priority": "Immediate"},
    2: {"name": "Important", "services": ("redis", "minio", "web"), "max_downtime_minutes": 120,
        "priority": "High"},
    3: {"name": "Supporting", "services": ("prometheus", "grafana", "alertmanager"), "max_downtime_minutes": 480,
        "priority": "Normal"},
}
SERVICE_ALIASES = {
    "postgresql": "postgres", "db": "postgres", "database": "postgres",
    "frontend": "web", "web frontend": "web", "web-frontend": "web",
    "backend": "api",
}
ALL_SERVICES = tuple(s for tier in TIERS.values() for s in tier["services"])

# Plan section 3: the scenarios, keyed by the name of the playbook that carries each out.
SCENARIOS: dict[str, dict[str, Any]] = {
    "recover-database": {"section": "3.1", "title": "Database Corruption or Loss", "severity": "P1",
                         "rto_minutes": 120, "rpo_hours": 24, "services": ("postgres", "api", "web")},
    "rebuild-server": {"section": "3.2", "title": "Complete Server Failure", "severity": "P1",
                       "rto_minutes": 240, "rpo_hours": 24, "services": ALL_SERVICES},
    "redeploy-app": {"section": "3.3", "title": "Application Redeploy from Container Registry", "severity": "P2",
                     "rto_minutes": 60, "rpo_hours": None, "services": ("api", "web")},
    "recover-minio": {"section": "3.4", "title": "MinIO Data Recovery", "severity": "P2",
                      "rto_minutes": 120, "rpo_hours": None, "services": ("minio",)},
    "dns-failover": {"section": "3.5", "title": "DNS Failover", "severity": "P1",
                     "rto_minutes": 30, "rpo_hours": None, "services": ("nginx", "api", "web")},
}

# Plan section 4.1: severity matrix. "Phone" is delivered through the generic JSON
# webhook (point it at the paging or phone-call provider).
SEVERITIES: dict[str, dict[str, Any]] = {
    "P1": {"impact": "Full outage, data loss risk", "notification": "Immediate: Slack, Email, Phone",
           "channels": ("slack", "email", "webhook"), "notify_within_minutes": 0, "update_cadence_minutes": 30},
    "P2": {"impact": "Partial outage, degraded service", "notification": "Within 15 min: Slack, Email",
           "channels": ("slack", "email"), "notify_within_minutes": 15, "update_cadence_minutes": 60},
    "P3": {"impact": "Minor degradation", "notification": "Within 1 hour: Slack",
           "channels": ("slack",), "notify_within_minutes": 60, "update_cadence_minutes": 0},
}
CHANNEL_TYPES = ("slack", "email", "webhook")
STATUSES = ("Investigating", "Identified", "Monitoring", "Resolved")
EVENTS = ("declaration", "update", "resolution", "failure")

# Plan section 4.3: who must hear about it, how, and how many minutes after declaration.
STAKEHOLDERS: tuple[dict[str, Any], ...] = (
    {"role": "On-call Engineer", "how": "Alertmanager -> Slack / Email", "after_minutes": {"P1": 0, "P2": 0, "P3": 0}},
    {"role": "Tech Lead", "how": "Slack / Phone", "after_minutes": {"P1": 0, "P2": 15}},
    {"role": "CTO", "how": "Phone call", "after_minutes": {"P1": 15}},
    {"role": "Affected Tenants", "how": "Email via tenant contact", "after_minutes": {"P1": 60, "P2": 120}},
)

# Plan section 6: the rows of the review's timeline, in order.
MILESTONES: dict[str, str] = {
    "alert": "First alert triggered",
    "declared": "Incident declared",
    "identified": "Root cause identified",
    "fix_deployed": "Fix deployed",
    "restored": "Service restored",
    "all_clear": "All-clear declared",
}

# Plan section 6: the review is due within 48 hours of resolution.
REVIEW_WITHIN_HOURS = 48

# Plan section 5.1: DR tests and how often each must run. `match` are lowercase
# phrases recognised in free-text log lines, tried in this order (most specific first).
DR_TESTS: tuple[dict[str, Any], ...] = (
    {"key": "database_restore", "name": "Database backup & restore", "frequency": "Monthly", "months": 1,
     "match": ("database", "db restore", "db backup", "pg_restore", "postgres")},
    {"key": "server_rebuild", "name": "Full server rebuild", "frequency": "Quarterly", "months": 3,
     "match": ("server rebuild", "full server", "rebuild", "rebuilt")},
    {"key": "dns_failover", "name": "DNS failover", "frequency": "Semi-annually", "months": 6,
     "match": ("dns", "failover")},
    {"key": "communication_drill", "name": "Communication plan drill", "frequency": "Annually", "months": 12,
     "match": ("communication", "comms", "notification drill")},
)
DR_TEST_MATCH_ORDER = ("server_rebuild", "dns_failover", "communication_drill", "database_restore")


def scenario_info(key: str | None) -> dict[str, Any] | None:
    """The plan's facts for a scenario key (``recover-database``, ``3.1``, ``recover_database``), or None."""
    if not key:
        return None
    norm = str(key).strip().lower().replace("_", "-")
    if norm.endswith(".yml"):
        norm = norm[:-4]
    if norm in SCENARIOS:
        return dict(SCENARIOS[norm], key=norm)
    for name, info in SCENARIOS.items():
        if info["section"] == norm:
            return dict(info, key=name)
    return None


def canonical_service(name: str) -> str:
    norm = str(name).strip().lower()
    return SERVICE_ALIASES.get(norm, norm)


def service_tier(name: str) -> int | None:
    svc = canonical_service(name)
    for tier, info in TIERS.items():
        if svc in info["services"]:
            return tier
    return None


# --------------------------------------------------------------------------- time


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(UTC)


def iso(dt: datetime.datetime | None) -> str | None:
    """``2026-02-06T02:03:04.123Z`` (UTC, milliseconds), or None."""
    if dt is None:
        return None
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def human_time(dt: datetime.datetime) -> str:
    """``2026-02-06 02:03 UTC``: the form used in messages people read."""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_FREE_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_OFFSET = re.compile(r"(?<![\d:])([+-])(\d{2}):?(\d{2})\b")
_BACKUP_NAME = re.compile(r"(\d{8})[_T-]?(\d{6})")


def parse_time(value: Any) -> datetime.datetime | None:
    """Parse a timestamp the tolerant way; always returns an aware UTC datetime or None.

    Accepts datetimes, epoch seconds, ISO 8601 (``Z``, offsets, or naive = UTC),
    ``date``'s default output in any common locale order (``Thu Feb  6 02:00:00 UTC 2026``,
    ``Thu  6 Feb 2026 02:00:00 CET``; named zones other than UTC/GMT are read as UTC,
    which is close enough for a schedule kept in days) and the plan's backup file names
    (``car_rental_backup_20260206_020000.sql.gz``).
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(float(value), UTC)
    text = str(value).strip()
    try:
        dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        dt = None
    if dt is not None:
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return _parse_free_text(text)


def _parse_free_text(text: str) -> datetime.datetime | None:
    lowered = text.lower()
    month = next((num for name, num in _MONTHS.items() if re.search(rf"\b{name}[a-z]*\b", lowered)), None)
    time_match = _FREE_TIME.search(text)
    if month is not None and time_match:
        rest = text[:time_match.start()] + " " + text[time_match.end():]
        rest = _OFFSET.sub(" ", rest)
        numbers = [int(n) for n in re.findall(r"\b(\d{1,4})\b", rest)]
        years = [n for n in numbers if n >= 1970]
        days = [n for n in numbers if 1 <= n <= 31]
        if years and days:
            hour, minute, second = (int(g) if g else 0 for g in time_match.groups())
            try:
                dt = datetime.datetime(years[0], month, days[0], hour, minute, second, tzinfo=UTC)
            except ValueError:
                return None
            offset = _OFFSET.search(text[time_match.end():])
            if offset:
                sign = 1 if offset.group(1) == "+" else -1
                dt -= sign * datetime.timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3)))
            return dt
    name = _BACKUP_NAME.search(text)
    if name:
        try:
            return datetime.datetime.strptime(name.group(1) + name.group(2), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            return None
    return None


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" + ("" if n == 1 else "s")


def format_duration(seconds: float | None) -> str:
    """``2 hours 5 minutes``, ``4 minutes 12 seconds``, ``42 seconds`` (the review's wording)."""
    if seconds is None:
        return "unknown"
    total = max(0, round(seconds))
    days, rem = divmod(total, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{_plural(days, 'day')} {_plural(hours, 'hour')} {_plural(minutes, 'minute')}"
    if hours:
        return f"{_plural(hours, 'hour')} {_plural(minutes, 'minute')}"
    if minutes:
        return f"{_plural(minutes, 'minute')} {_plural(secs, 'second')}"
    return _plural(secs, "second")


def format_clock(seconds: float | None) -> str:
    """``02:05:09`` (h:mm:ss), for tables."""
    if seconds is None:
        return "--"
    total = max(0, round(seconds))
    hours, rem = divmod(total, 3600)
    return f"{hours:d}:{rem // 60:02d}:{rem % 60:02d}"


def format_target(minutes: float) -> str:
    """A plan target as the plan writes it: ``30 min``, ``2 h``, ``8 h``."""
    if minutes >= 60 and minutes % 60 == 0:
        return f"{int(minutes // 60)} h"
    if minutes >= 60:
        return f"{minutes / 60:g} h"
    return f"{minutes:g} min"
