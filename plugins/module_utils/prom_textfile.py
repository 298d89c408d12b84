# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus textfile-collector metrics (node_exporter --collector.textfile.directory).

Files are rendered and written atomically by ``promfile`` (shared with the backup
program), so node_exporter never reads a half-written file. A run that fails keeps the
previous ``*_last_success_timestamp_seconds`` (read back from the file) so "last success
older than 8 days" alerts stay true.
Nothing here imports Ansible.
"""

from __future__ import annotations

import os
import re

from ansible_collections.fleetpulse.dr.plugins.module_utils import promfile

LINE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def read_value(path: str, name: str) -> float | None:
    """The value of metric ``name`` in ``path`` (the first sample), or None."""
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                m = LINE_RE.match(line)
                if m and m.group(1) == name:
                    return float(m.group(3))
    except (OSError, ValueError):
        return None
    return None


def emit(path: str, metrics: list[tuple[str, str, str, float]], labels: dict[str, str]) -> str:
    """Write ``metrics`` ((name, type, help, value) tuples, all with ``labels``) to ``path``.

    Rendering and the atomic write are promfile's, shared with the backup program.
    Returns the text written.
    """
    rendered = [promfile.Metric(name, help_text, kind).add(value, **labels)
                for name, kind, help_text, value in metrics]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    promfile.write(path, rendered)
    return promfile.render(rendered)


def mirror_metrics(path: str, bucket: str, *, success: bool, now: float, duration: float,
                   result: dict | None) -> str:
    """Write the object mirror's metrics for ``bucket`` to ``path``; returns the text written."""
    prefix = "fleetpulse_object_mirror"
    last_success = now if success else (read_value(path, f"{prefix}_last_success_timestamp_seconds") or 0)
    result = result or {}
    verify = result.get("verify") or {}
    counts = verify.get("counts") or {}
    differences = sum(counts.get(k, 0) for k in ("missing", "different", "corrupt", "offsite_missing"))
    metrics = [
        (f"{prefix}_last_success_timestamp_seconds", "gauge",
         "Time of the last mirror run that completed and verified (Unix seconds).", last_success),
        (f"{prefix}_last_run_timestamp_seconds", "gauge", "Time of the last mirror run (Unix seconds).", now),
        (f"{prefix}_last_run_success", "gauge", "1 when the last mirror run succeeded, else 0.", 1 if success else 0),
        (f"{prefix}_duration_seconds", "gauge", "Duration of the last mirror run.", round(duration, 3)),
    ]
    if success or result.get("objects") is not None:
        metrics += [
            (f"{prefix}_objects", "gauge", "Objects in the source bucket at the last run.", result.get("objects", 0)),
            (f"{prefix}_bytes", "gauge", "Bytes in the source bucket at the last run.", result.get("bytes", 0)),
            (f"{prefix}_copied_objects", "gauge", "Objects uploaded offsite by the last run.",
             (result.get("copied") or {}).get("objects", 0)),
            (f"{prefix}_copied_bytes", "gauge", "Bytes uploaded offsite by the last run.",
             (result.get("copied") or {}).get("bytes", 0)),
            (f"{prefix}_generations", "gauge", "Generations kept offsite.", len(result.get("generations") or [])),
            (f"{prefix}_verify_differences", "gauge",
             "Objects missing, different, corrupt or lost offsite at the last verification.", differences),
        ]
    return emit(path, metrics, {"bucket": bucket})


def archive_metrics(path: str, volume: str, *, success: bool, now: float, duration: float, size: int) -> str:
    """Write the volume archive's metrics for ``volume`` to ``path``."""
    prefix = "fleetpulse_object_volume_archive"
    last_success = now if success else (read_value(path, f"{prefix}_last_success_timestamp_seconds") or 0)
    metrics = [
        (f"{prefix}_last_success_timestamp_seconds", "gauge",
         "Time of the last volume archive uploaded and verified offsite (Unix seconds).", last_success),
        (f"{prefix}_last_run_timestamp_seconds", "gauge", "Time of the last volume archive run (Unix seconds).", now),
        (f"{prefix}_last_run_success", "gauge", "1 when the last volume archive run succeeded, else 0.",
         1 if success else 0),
        (f"{prefix}_duration_seconds", "gauge", "Duration of the last volume archive run.", round(duration, 3)),
        (f"{prefix}_bytes", "gauge", "Size of the last volume archive.", size),
    ]
    return emit(path, metrics, {"volume": volume})
