# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup file names and the retention rule, shared by the local and the offsite purge.

Names (plan 2.1: ``car_rental_backup_YYYYMMDD_HHMMSS.sql.gz``)::

    car_rental_backup_20260206_020000.sql.gz            daily (the plan's name, plain format)
    car_rental_backup_20260206_020000.dump              daily, custom format (pg_dump -Fc)
    car_rental_backup_20260206_141503_pre-deploy.dump   before a deploy
    car_rental_backup_20260206_093012_manual.dump       on demand

The type is in the name so that ``ls``, a glob and the offsite purge (which lists keys and
reads no object) all see it. The timestamp is UTC. Retention (plan 2.1): daily 30 days,
pre-deploy 7 days, manual until deleted; the purge runs only after a successful new
backup and never touches the newest ``keep_min`` valid backups, whatever their age.
Standard library only (it runs on the managed host).
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

PREFIX = "car_rental_backup_"
TYPES = ("daily", "pre-deploy", "manual")
EXTENSIONS = {"plain.gz": ".sql.gz", "custom": ".dump"}
NAME_RE = re.compile(
    r"^(?P<prefix>.+?)(?P<date>\d{8})_(?P<time>\d{6})(?:_(?P<type>pre-deploy|manual))?"
    r"(?P<ext>\.sql\.gz|\.dump)(?P<enc>\.gpg)?$")


@dataclass(frozen=True)
class BackupName:
    name: str
    stamp: _dt.datetime
    type: str
    fmt: str
    encrypted: bool = False

    @property
    def plain_name(self) -> str:
        """The name without an encryption suffix (what the manifest's ``file`` says)."""
        return self.name[:-4] if self.encrypted else self.name


def make_name(stamp: _dt.datetime, backup_type: str, fmt: str, prefix: str = PREFIX) -> str:
    if backup_type not in TYPES:
        raise ValueError(f"backup type must be one of {', '.join(TYPES)}, got {backup_type!r}")
    if fmt not in EXTENSIONS:
        raise ValueError(f"format must be one of {', '.join(EXTENSIONS)}, got {fmt!r}")
    suffix = "" if backup_type == "daily" else f"_{backup_type}"
    return f"{prefix}{stamp.astimezone(_dt.UTC):%Y%m%d_%H%M%S}{suffix}{EXTENSIONS[fmt]}"


def parse_name(name: str, prefix: str = PREFIX) -> BackupName | None:
    """A backup's name parsed, or None when ``name`` is not a backup of ``prefix`` (manifests, partials, ...)."""
    m = NAME_RE.match(name)
    if not m or m.group("prefix") != prefix:
        return None
    try:
        stamp = _dt.datetime.strptime(m.group("date") + m.group("time"), "%Y%m%d%H%M%S").replace(tzinfo=_dt.UTC)
    except ValueError:
        return None
    fmt = "plain.gz" if m.group("ext") == ".sql.gz" else "custom"
    return BackupName(name, stamp, m.group("type") or "daily", fmt, bool(m.group("enc")))


@dataclass(frozen=True)
class Candidate:
    """A backup the purge may consider: its parsed name and whether it is valid (has a good manifest)."""

    backup: BackupName
    valid: bool


def plan_purge(candidates: list[Candidate], now: _dt.datetime, retention_days: dict[str, int],
               keep_min: int) -> tuple[list[Candidate], list[Candidate]]:
    """Split ``candidates`` into (purge, keep).

    A backup is purged when its type has a retention (days > 0) and it is older than that,
    unless it is one of the newest ``keep_min`` valid backups (of any type): those are kept
    whatever their age, so a server whose backups stopped weeks ago still has its last ones.
    """
    ordered = sorted(candidates, key=lambda c: (c.backup.stamp, c.backup.name), reverse=True)
    protected = {c.backup.name for c in [c for c in ordered if c.valid][:max(keep_min, 0)]}
    purge, keep = [], []
    for cand in ordered:
        days = int(retention_days.get(cand.backup.type, 0) or 0)
        expired = days > 0 and now - cand.backup.stamp > _dt.timedelta(days=days)
        (purge if expired and cand.backup.name not in protected else keep).append(cand)
    return purge, keep
