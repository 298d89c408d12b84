# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: dr_timeline
type: aggregate
short_description: Timeline, RTO check and post-incident review draft of a DR run
version_added: "0.1.0"
description:
  - Records the phases a recovery playbook marks with M(fleetpulse.dr.dr_phase), with UTC
    timestamps, task counts and failures per phase; the incident messages sent by the
    C(fleetpulse.dr.notify) role; and the backups published by M(fleetpulse.dr.dr_backup_used)
    (facts C(dr_timeline_backup_used), C(dr_timeline_data_loss_seconds)).
  - Prints a progress line at each phase with the time elapsed against the scenario's RTO.
  - At the end of the run it computes the elapsed time from the incident declaration to service
    restoration against the plan's targets (section 1 and 3; RTO per scenario, maximum downtime
    per service tier, overall RTO, RPO against the data-loss window), and writes a JSON record
    and a post-incident review draft in the plan's section 6 template into O(output_dir).
  - Silent in runs without phase markers, so it can stay enabled for every playbook.
  - In check mode it prints the summary and writes nothing.
requirements:
  - enable it in ansible.cfg (C(callbacks_enabled = fleetpulse.dr.dr_timeline)) or with
    E(ANSIBLE_CALLBACKS_ENABLED)
options:
  output_dir:
    description: Directory for the JSON records and review drafts (created when missing).
    type: path
    default: ~/.ansible/fleetpulse-dr/timeline
    env:
      - name: FLEETPULSE_DR_TIMELINE_DIR
    ini:
      - section: callback_dr_timeline
        key: output_dir
  author:
    description: Name written as the review's author.
    type: str
    default: ""
    env:
      - name: FLEETPULSE_DR_REVIEW_AUTHOR
    ini:
      - section: callback_dr_timeline
        key: author
"""

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ansible import context
from ansible.plugins.callback import CallbackBase

from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_catalog import (
    format_clock,
    format_target,
    iso,
    parse_time,
    scenario_info,
    utcnow,
)
from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_review import build_record, render_review

PHASE_ACTIONS = ("fleetpulse.dr.dr_phase", "dr_phase")


class CallbackModule(CallbackBase):
    """Collects DR phase markers and writes the run's timeline record and review draft."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "fleetpulse.dr.dr_timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display: Any = None) -> None:
        super().__init__(display=display)
        self._playbook = ""
        self._started = utcnow()
        self._markers: list[dict[str, Any]] = []
        self._phases: list[dict[str, Any]] = []
        self._phase_task: str | None = None
        self._notifications: list[dict[str, Any]] = []
        self._incident: dict[str, Any] = {}
        self._backups: list[Any] = []
        self._data_loss: float | None = None
        self._context: dict[str, Any] = {}

    # ------------------------------------------------------------------ events

    def v2_playbook_on_start(self, playbook: Any) -> None:
        self._playbook = os.path.relpath(playbook._file_name) if getattr(playbook, "_file_name", None) else ""
        self._started = utcnow()

    def v2_runner_on_ok(self, result: Any) -> None:
        data = result.result
        task = result.task
        action = getattr(task, "resolved_action", None) or task.action
        if action in PHASE_ACTIONS and isinstance(data.get("dr_phase"), dict):
            self._on_marker(data["dr_phase"], result.host.get_name(), task._uuid)
        self._on_facts(data.get("ansible_facts") or {})
        self._count("changed" if data.get("changed") else "ok")

    def v2_runner_item_on_ok(self, result: Any) -> None:
        # A looped task's own result carries no facts; each item's does (dr_backup_used in a
        # loop over the buckets restored, say). The task is counted once, in v2_runner_on_ok.
        self._on_facts(result.result.get("ansible_facts") or {})

    def _on_facts(self, facts: dict[str, Any]) -> None:
        if isinstance(facts.get("notify_last_delivery"), dict):
            self._on_notification(facts["notify_last_delivery"])
        if isinstance(facts.get("notify_incident"), dict):
            self._incident = facts["notify_incident"]
        if "dr_timeline_backup_used" in facts:
            used = facts["dr_timeline_backup_used"]
            self._backups.extend(used if isinstance(used, list) else [used])
        if facts.get("dr_timeline_data_loss_seconds") is not None:
            try:
                self._data_loss = float(facts["dr_timeline_data_loss_seconds"])
            except (TypeError, ValueError):
                self._display.warning("dr_timeline: dr_timeline_data_loss_seconds is not a number; ignored")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        if ignore_errors:
            self._count("ok")
            return
        self._count("failed")
        self._failure(result, str(result.result.get("msg") or result.result.get("stderr") or "failed"))

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._count("unreachable")
        self._failure(result, "host unreachable: " + str(result.result.get("msg", "")))

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._count("skipped")

    def v2_playbook_on_stats(self, stats: Any) -> None:
        if not self._markers:
            return
        finished = utcnow()
        collected = {
            "playbook": self._playbook,
            "started_at": iso(self._started),
            "finished_at": iso(finished),
            "check_mode": bool(context.CLIARGS.get("check")),
            "failed_hosts": [h for h, n in stats.failures.items() if n],
            "unreachable_hosts": [h for h, n in stats.dark.items() if n],
            "markers": self._markers,
            "phases": self._phases,
            "notifications": self._notifications,
            "incident": self._incident,
            "backups": self._backups,
            "data_loss_seconds": self._data_loss,
            "author": self.get_option("author") or "",
        }
        record = build_record(collected)
        paths: tuple[Path, Path] | None = None
        if not record["run"]["check_mode"]:
            try:
                paths = self._write(record)
            except OSError as exc:
                self._display.warning(f"dr_timeline: could not write the timeline record: {exc}")
        self._summary(record, paths)

    # ------------------------------------------------------------------ collection

    def _on_marker(self, marker: dict[str, Any], host: str, task_uuid: str) -> None:
        if task_uuid == self._phase_task and self._phases:
            self._phases[-1]["hosts"].add(host)  # the same marker reported by another host
            return
        self._markers.append(marker)
        if marker.get("scenario"):
            self._context = {**self._context, **marker}
            if not self._context.get("first_at"):
                self._context["first_at"] = marker["at"]
        phase = {"name": marker["phase"], "at": marker["at"], "scenario": self._context.get("scenario", ""),
                 "note": marker.get("note", ""), "hosts": {host}, "tasks": {}, "failures": []}
        if marker.get("backdated") and marker.get("milestone") == "alert":
            return  # a first alert before the run is a milestone, not a phase of the run
        self._phases.append(phase)
        self._phase_task = task_uuid
        self._progress(phase)

    def _on_notification(self, report: dict[str, Any]) -> None:
        key = (report.get("event"), report.get("at"))
        if all((n.get("event"), n.get("at")) != key for n in self._notifications):
            self._notifications.append(report)

    def _count(self, what: str) -> None:
        if self._phases:
            tasks = self._phases[-1]["tasks"]
            tasks[what] = tasks.get(what, 0) + 1
            if what == "changed":
                tasks["ok"] = tasks.get("ok", 0) + 1

    def _failure(self, result: Any, msg: str) -> None:
        if self._phases:
            self._phases[-1]["failures"].append({"task": result.task_name, "host": result.host.get_name(),
                                                 "msg": " ".join(msg.split())[:500], "at": iso(utcnow())})

    # ------------------------------------------------------------------ output

    def _clock_start(self) -> Any:
        declared = next((m["at"] for m in self._markers if m.get("milestone") == "declared"), None) or next(
            (n["at"] for n in self._notifications if n.get("event") == "declaration"), None)
        return parse_time(declared) or parse_time(self._phases[0]["at"] if self._phases else None)

    def _progress(self, phase: dict[str, Any]) -> None:
        at = parse_time(phase["at"])
        start = self._clock_start()
        elapsed = (at - start).total_seconds() if at and start else 0.0
        line = f"DR TIMELINE {at.strftime('%H:%M:%S') if at else '--'} UTC | phase {len(self._phases)}: {phase['name']}"
        line += f" | elapsed {format_clock(elapsed)}"
        rto = self._context.get("rto_minutes")
        if rto:
            info = scenario_info(self._context.get("scenario")) or {}
            left = float(rto) * 60 - elapsed
            where = f" (plan {info['section']})" if info.get("section") else ""
            line += (f" | RTO {format_target(float(rto))}{where}: "
                     + (f"{format_clock(left)} left" if left >= 0 else f"EXCEEDED by {format_clock(-left)}"))
        self._display.display(line)

    def _write(self, record: dict[str, Any]) -> tuple[Path, Path]:
        out = Path(os.path.expanduser(self.get_option("output_dir")))
        out.mkdir(parents=True, exist_ok=True)
        start = parse_time(record["run"]["started_at"]) or utcnow()
        slug = record["incident"]["scenario"] or Path(self._playbook).stem or "run"
        base = f"{start.strftime('%Y%m%dT%H%M%SZ')}-{slug}"
        json_path, md_path = out / f"{base}.json", out / f"{base}-review.md"
        record["record_file"] = str(json_path)
        record["review_file"] = str(md_path)
        _atomic_write(json_path, json.dumps(record, indent=2, sort_keys=False) + "\n")
        _atomic_write(md_path, render_review(record))
        return json_path, md_path

    def _summary(self, record: dict[str, Any], paths: tuple[Path, Path] | None) -> None:
        inc = record["incident"]
        name = inc["scenario"] or record["run"]["playbook"] or "run"
        if inc["section"]:
            name += f" (plan {inc['section']})"
        lines = [f"DR TIMELINE SUMMARY: {name}: {record['status'].upper()} after "
                 f"{format_clock(record['clock']['elapsed_seconds'])} (from {record['clock']['from_source']} to "
                 f"{record['clock']['to_source']})"]
        for p in record["phases"]:
            lines.append(f"  {p['index']:>2}. {p['name']:<40} {format_clock(p['duration_seconds']):>9}"
                         f"  {'FAILED' if p['status'] == 'failed' else 'ok'}")
        for o in record["objectives"]:
            verdict = "met" if o["met"] else ("MISSED" if o["restored"] else "NOT RESTORED")
            lines.append(f"  {o['name']}: {format_clock(o['elapsed_seconds'])} of "
                         f"{format_target(o['target_seconds'] / 60)}: {verdict}")
        if record["data_loss"]["seconds"] is not None:
            lines.append(f"  data-loss window: {format_clock(record['data_loss']['seconds'])} "
                         f"(RPO {format_target(record['data_loss']['rpo_seconds'] / 60)}: "
                         f"{'met' if record['data_loss']['met'] else 'MISSED'})")
        if paths:
            lines += [f"  record: {paths[0]}", f"  review draft: {paths[1]}"]
        elif record["run"]["check_mode"]:
            lines.append("  check mode: no record written")
        self._display.display("\n".join(lines))


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
