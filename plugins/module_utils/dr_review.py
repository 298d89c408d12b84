# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR timeline record and the post-incident review draft (plan sections 1 and 6).

``build_record`` turns what the dr_timeline callback collected during a run (phase
markers, task counts and failures, notification reports, backups used) into the JSON
record; ``render_review`` writes the plan's section 6 template from that record.
Both are pure functions of their input, so they are tested without running Ansible.
"""

from __future__ import annotations

import datetime
from typing import Any

from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_catalog import (
    MILESTONES,
    REVIEW_WITHIN_HOURS,
    RPO_SECONDS,
    RTO_SECONDS,
    TIERS,
    UTC,
    format_clock,
    format_duration,
    format_target,
    iso,
    parse_time,
    scenario_info,
    service_tier,
)

SCHEMA = "fleetpulse.dr/timeline/v1"
_EVENT_LABELS = {"declaration": "Declaration", "update": "Update", "resolution": "Resolution notice",
                 "failure": "Failure update"}
_TASK_KEYS = ("ok", "changed", "failed", "skipped", "unreachable")

Dt = datetime.datetime


def _t(value: Any) -> Dt | None:
    return parse_time(value)


def _seconds(start: Dt | None, end: Dt | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def _first(*values: Any) -> Any:
    return next((v for v in values if v not in (None, "", [], {})), None)


# --------------------------------------------------------------------------- record


def _scenarios(markers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Scenarios named by the markers, in order; the first is the run's scenario."""
    scenarios: list[dict[str, Any]] = []
    for m in markers:
        if not m.get("scenario") or any(s["key"] == m["scenario"] for s in scenarios):
            continue
        info = scenario_info(m["scenario"]) or {}
        scenarios.append({"key": m["scenario"], "section": m.get("section") or info.get("section", ""),
                          "title": m.get("title") or info.get("title") or m["scenario"],
                          "rto_minutes": m.get("rto_minutes", info.get("rto_minutes")),
                          "rpo_hours": info.get("rpo_hours"),
                          "services": m.get("services") or list(info.get("services") or [])})
    return scenarios


def _phases(collected: dict[str, Any], default_scenario: str) -> list[dict[str, Any]]:
    """Phases with start, end (the next phase's start, or the end of the run) and duration."""
    raw = collected.get("phases") or []
    phases = []
    for index, p in enumerate(raw, start=1):
        start = _t(p["at"])
        end = _t(raw[index]["at"] if index < len(raw) else collected.get("finished_at"))
        phases.append({
            "index": index, "name": p["name"], "scenario": p.get("scenario") or default_scenario,
            "started_at": iso(start), "finished_at": iso(end), "duration_seconds": _seconds(start, end),
            "status": "failed" if p.get("failures") else "ok",
            "tasks": {k: int((p.get("tasks") or {}).get(k, 0)) for k in _TASK_KEYS},
            "failures": p.get("failures") or [], "note": p.get("note", ""), "hosts": sorted(p.get("hosts") or []),
        })
    return phases


def _milestones(markers: list[dict[str, Any]], notifications: list[dict[str, Any]], succeeded: bool,
                run_end: Dt | None) -> tuple[dict[str, Dt], dict[str, str]]:
    """The review's timeline events: explicit markers first, then what the notifications and the run imply."""
    found: dict[str, Dt] = {}
    sources: dict[str, str] = {}
    for m in markers:
        when = _t(m.get("at"))
        if m.get("milestone") and m["milestone"] not in found and when is not None:
            found[m["milestone"]], sources[m["milestone"]] = when, f"the '{m['milestone']}' marker"
    declaration = next((n for n in notifications if n.get("event") == "declaration"), None)
    resolution = next((n for n in reversed(notifications) if n.get("event") == "resolution"), None)
    inferred: list[tuple[str, Dt | None, str]] = []
    if declaration:
        inferred.append(("declared", _t(declaration["at"]), "the declaration notice"))
    if resolution:
        inferred += [("all_clear", _t(resolution["at"]), "the resolution notice"),
                     ("restored", _t(resolution["at"]), "the resolution notice")]
    elif succeeded:
        inferred.append(("restored", run_end, "the end of the successful run"))
    for key, when, source in inferred:
        if key not in found and when is not None:
            found[key], sources[key] = when, source
    return found, sources


def _objectives(scenarios: list[dict[str, Any]], services: list[str], phases: list[dict[str, Any]],
                elapsed: float | None, restored: bool) -> list[dict[str, Any]]:
    """Elapsed time against the plan's targets: scenario RTOs, tier downtime, overall RTO."""
    out: list[dict[str, Any]] = []

    def add(kind: str, name: str, plan: str, target_s: float, *, span: float | None, done: bool) -> None:
        out.append({"kind": kind, "name": name, "plan": plan, "target_seconds": target_s, "elapsed_seconds": span,
                    "met": bool(done and span is not None and span <= target_s), "restored": done})

    for i, sc in enumerate(scenarios):
        if sc.get("rto_minutes") is None:
            continue
        span, done = elapsed, restored
        if i > 0:  # a nested scenario is measured over its own phases
            own = [p for p in phases if p["scenario"] == sc["key"]]
            span = _seconds(_t(own[0]["started_at"]), _t(own[-1]["finished_at"])) if own else None
            done = bool(own) and all(p["status"] == "ok" for p in own)
        label = f"{sc['section']} {sc['title']}".strip()
        add("scenario", f"RTO {label}", f"plan {sc['section'] or '-'}", float(sc["rto_minutes"]) * 60,
            span=span, done=done)
    tiers = sorted({t for t in (service_tier(s) for s in services) if t is not None})
    for tier in tiers:
        members = ", ".join(s for s in services if service_tier(s) == tier)
        add("tier", f"Tier {tier} ({TIERS[tier]['name']}: {members}) max downtime", "plan 1",
            TIERS[tier]["max_downtime_minutes"] * 60.0, span=elapsed, done=restored)
    if out:
        add("plan", "Overall RTO (declaration to service restoration)", "plan 1", float(RTO_SECONDS),
            span=elapsed, done=restored)
    return out


def _data_loss(collected: dict[str, Any], rpo_hours: float | None,
               incident_start: Dt | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Backups used (deduplicated) with each one's data-loss window, and the run's window against the RPO."""
    backups: list[dict[str, Any]] = []
    for b in collected.get("backups") or []:
        entry = {"name": b} if isinstance(b, str) else dict(b)
        if not any(x.get("name") == entry.get("name") and x.get("kind") == entry.get("kind") for x in backups):
            backups.append(entry)
    windows = []
    for b in backups:
        taken = _t(b.get("taken_at")) or _t(b.get("name"))
        if taken is not None and incident_start is not None:
            b["data_loss_seconds"] = max(0.0, round((incident_start - taken).total_seconds(), 3))
            # The run's window is about data (the RPO's subject): a configuration backup's
            # age is listed with it but does not widen the window.
            if b.get("kind") != "config":
                windows.append(b["data_loss_seconds"])
    rpo_s = float(rpo_hours * 3600) if rpo_hours else float(RPO_SECONDS)
    if collected.get("data_loss_seconds") is not None:
        loss: dict[str, Any] = {"seconds": float(collected["data_loss_seconds"]),
                                "source": "dr_timeline_data_loss_seconds"}
    elif windows:
        loss = {"seconds": max(windows), "source": "oldest data backup used, to the start of the incident"}
    else:
        loss = {"seconds": None,
                "source": "unknown (backup time unknown)" if backups else "unknown (no backup recorded)"}
    loss.update(rpo_seconds=rpo_s, met=None if loss["seconds"] is None else loss["seconds"] <= rpo_s)
    return backups, loss


def build_record(collected: dict[str, Any]) -> dict[str, Any]:
    """The JSON record of one run (schema ``fleetpulse.dr/timeline/v1``, see docs/timeline.md)."""
    markers = collected.get("markers") or []
    run_start, run_end = _t(collected.get("started_at")), _t(collected.get("finished_at"))
    failed = bool(collected.get("failed_hosts") or collected.get("unreachable_hosts"))
    incident = collected.get("incident") or {}
    notifications = collected.get("notifications") or []

    scenarios = _scenarios(markers)
    primary = scenarios[0] if scenarios else {}
    services: list[str] = []
    for s in [x for m in markers for x in (m.get("services") or [])] or list(primary.get("services") or []):
        if s not in services:
            services.append(s)
    phases = _phases(collected, primary.get("key", ""))
    milestones, sources = _milestones(markers, notifications, not failed and bool(phases), run_end)

    clock_start = milestones.get("declared") or (_t(phases[0]["started_at"]) if phases else run_start)
    restored = milestones.get("restored")
    elapsed = _seconds(clock_start, restored or run_end)
    objectives = _objectives(scenarios, services, phases, elapsed, restored is not None)
    incident_start = _first(milestones.get("alert"), _t(incident.get("started_at")), clock_start)
    backups, loss = _data_loss(collected, primary.get("rpo_hours"), incident_start)

    if collected.get("check_mode"):
        status = "check_mode"
    elif failed:
        status = "failed"
    else:
        status = "restored" if restored is not None else "completed"
    severity = _first(*(m.get("severity") for m in markers), incident.get("severity"),
                      (scenario_info(primary.get("key")) or {}).get("severity"))
    return {
        "schema": SCHEMA,
        "status": status,
        "run": {"playbook": collected.get("playbook", ""), "started_at": iso(run_start), "finished_at": iso(run_end),
                "duration_seconds": _seconds(run_start, run_end), "check_mode": bool(collected.get("check_mode")),
                "failed_hosts": sorted(collected.get("failed_hosts") or []),
                "unreachable_hosts": sorted(collected.get("unreachable_hosts") or [])},
        "incident": {
            "id": incident.get("id", ""),
            "title": _first(incident.get("title") if incident.get("title") != "Incident" else None,
                            primary.get("title"), collected.get("playbook"), "DR run"),
            "scenario": primary.get("key", ""), "section": primary.get("section", ""),
            "severity": severity or "", "commander": incident.get("commander", ""),
            "impact": incident.get("impact", ""), "root_cause": incident.get("root_cause", ""),
            "environment": incident.get("environment", ""), "drill": bool(incident.get("drill")),
            "services": services, "scenarios": [s["key"] for s in scenarios],
        },
        "milestones": {k: {"at": iso(v), "source": sources[k], "label": MILESTONES[k]}
                       for k, v in sorted(milestones.items(), key=lambda kv: kv[1])},
        "clock": {"from": iso(clock_start), "from_source": sources.get("declared", "the first phase"),
                  "to": iso(restored or run_end), "to_source": sources.get("restored", "the end of the run"),
                  "elapsed_seconds": elapsed},
        "phases": phases,
        "objectives": objectives,
        "notifications": notifications,
        "backups_used": backups,
        "data_loss": loss,
        "author": collected.get("author", ""),
    }


# --------------------------------------------------------------------------- review


def _stamp(value: str | None, day: str) -> str:
    dt = _t(value)
    if dt is None:
        return "--"
    return dt.strftime("%H:%M:%S") if dt.strftime("%Y-%m-%d") == day else dt.strftime("%Y-%m-%d %H:%M:%S")


def _oneline(text: Any) -> str:
    flat = " ".join(str(text).split()).replace("|", "\\|")
    return (flat[:200] + "…") if len(flat) > 200 else flat


def _notification_row(n: dict[str, Any]) -> str:
    label = _EVENT_LABELS.get(n.get("event", ""), n.get("event", "Notification"))
    if not n.get("enabled", True):
        how = "recorded, notifications off"
    elif n.get("check_mode"):
        how = "check mode, not sent"
    else:
        how = f"sent to {n.get('sent', 0)} channel(s)" + (f", {n['failed']} failed" if n.get("failed") else "")
    detail = f": {_oneline(n['summary'])}" if n.get("summary") and n.get("event") in ("update", "failure") else ""
    return f"{label} ({n.get('status', '')}; {how}){detail}"


def timeline_rows(record: dict[str, Any]) -> list[tuple[str, str]]:
    """(ISO time, event) rows of the review's timeline, in time order."""
    rows: list[tuple[str, int, str]] = []
    for key, m in record["milestones"].items():
        note = "" if m["source"].endswith("marker") else f" ({m['source']})"
        rows.append((m["at"], 0, f"{MILESTONES[key]}{note}"))
    for p in record["phases"]:
        rows.append((p["started_at"], 1,
                     f"Phase {p['index']} started: {p['name']}" + (f" ({_oneline(p['note'])})" if p["note"] else "")))
        rows += [(f.get("at") or p["finished_at"], 2, f"Phase {p['index']} FAILED: task '{f.get('task', '?')}' on "
                  f"{f.get('host', '?')}: {_oneline(f.get('msg', ''))}") for f in p["failures"]]
    rows += [(n["at"], 3, _notification_row(n)) for n in record["notifications"]]
    if record["run"]["finished_at"]:
        rows.append((record["run"]["finished_at"], 9, f"Recovery run ended: {record['status']}"))
    rows.sort(key=lambda r: (_t(r[0]) or Dt.min.replace(tzinfo=UTC), r[1]))
    return [(r[0], r[2]) for r in rows]


def _assessment(record: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """What went well, what went poorly, and the action items the run itself shows."""
    well: list[str] = []
    poorly: list[str] = []
    actions: list[str] = []
    restored = "restored" in record["milestones"]
    for o in record["objectives"]:
        text = f"{o['name']}: {format_clock(o['elapsed_seconds'])} against {format_target(o['target_seconds'] / 60)}"
        if o["met"]:
            well.append(text)
        elif o["restored"]:
            poorly.append(text + " (missed)")
            actions.append(f"Find out why {o['name']} was missed")
    if record["objectives"] and not restored:
        poorly.append(f"The automated run did not restore the service "
                      f"({format_clock(record['clock']['elapsed_seconds'])} elapsed)")
        actions.append("Complete the recovery and record when service was restored")
    for p in record["phases"]:
        if p["status"] == "failed":
            poorly.append(f"Phase {p['index']} '{p['name']}' failed: "
                          + "; ".join(_oneline(f.get("msg", "")) for f in p["failures"][:3]))
            actions.append(f"Fix what made phase '{p['name']}' fail")
    for n in record["notifications"]:
        for ch in n.get("channels") or []:
            if ch.get("status") == "failed":
                poorly.append(f"{_EVENT_LABELS.get(n['event'], n['event'])} to {ch['type']} '{ch['name']}' "
                              f"failed: {_oneline(ch.get('error', ''))}")
                action = f"Repair notification channel {ch['type']} '{ch['name']}'"
                if action not in actions:
                    actions.append(action)
    return well, poorly, actions


def _loss_text(loss: dict[str, Any]) -> str:
    if loss["seconds"] is None:
        return f"TODO: {loss['source']}"
    if loss["seconds"] == 0:
        return "none"
    return (f"up to {format_duration(loss['seconds'])} of changes ({loss['source']}); "
            f"RPO {format_target(loss['rpo_seconds'] / 60)}: {'met' if loss['met'] else 'MISSED'}")


def _tables(record: dict[str, Any], day: str) -> list[str]:
    out = ["### Phases", "| # | Phase | Start | End | Duration | Tasks ok / changed / failed | Result |",
           "| - | ----- | ----- | --- | -------- | --------------------------- | ------ |"]
    for p in record["phases"]:
        t = p["tasks"]
        out.append(f"| {p['index']} | {p['name']} | {_stamp(p['started_at'], day)} | {_stamp(p['finished_at'], day)} "
                   f"| {format_clock(p['duration_seconds'])} | {t['ok']} / {t['changed']} / {t['failed']} "
                   f"| {'FAILED' if p['status'] == 'failed' else 'ok'} |")
    out += ["", "### Recovery objectives (plan section 1)", "| Target | Source | Limit | Elapsed | Result |",
            "| ------ | ------ | ----- | ------- | ------ |"]
    for o in record["objectives"]:
        result = "met" if o["met"] else ("MISSED" if o["restored"] else "NOT RESTORED")
        out.append(f"| {o['name']} | {o['plan']} | {format_target(o['target_seconds'] / 60)} | "
                   f"{format_clock(o['elapsed_seconds'])} | {result} |")
    if not record["objectives"]:
        out.append("| (no scenario named by the phase markers) | -- | -- | -- | -- |")
    return out


def render_review(record: dict[str, Any]) -> str:
    """The plan's section 6 template, filled with what the run knows; the rest marked TODO."""
    inc, clock = record["incident"], record["clock"]
    start = _t(clock["from"]) or _t(record["run"]["started_at"])
    day = start.strftime("%Y-%m-%d") if start else "YYYY-MM-DD"
    due = _t(record["milestones"].get("all_clear", {}).get("at")) or _t(record["run"]["finished_at"])
    due_text = (due + datetime.timedelta(hours=REVIEW_WITHIN_HOURS)).strftime("%Y-%m-%d %H:%M UTC") if due else "--"
    title = (("[DRILL] " if inc.get("drill") else "") + inc["title"]
             + (f" (plan {inc['section']})" if inc["section"] else ""))
    duration = format_duration(clock["elapsed_seconds"])
    if "restored" not in record["milestones"]:
        duration += " so far, service NOT restored by this run"
    well, poorly, actions = _assessment(record)
    backups = ", ".join(
        f"`{b['name']}` ({b.get('kind', 'backup')}"
        + (f", taken {_stamp(b['taken_at'], '')} UTC" if b.get("taken_at") else "") + ")"
        for b in record["backups_used"]) or "TODO [filename] (none recorded by this run)"
    runbook = f"`{record['run']['playbook']}`" + (f" (plan section {inc['section']})" if inc["section"] else "")
    impact = f" (reported impact: {inc['impact']})" if inc["impact"] else ""

    out = [f"# Post-Incident Review: {title}", "",
           f"> Draft written by the fleetpulse.dr.dr_timeline callback from the run of `{record['run']['playbook']}` "
           f"(status: **{record['status']}**). Complete every TODO and hold the review by {due_text} "
           f"(within {REVIEW_WITHIN_HOURS} hours of resolution, plan section 6).", "",
           "## Summary",
           f"- **Date:** {day}",
           f"- **Duration:** {duration} (from {clock['from_source']} to {clock['to_source']})",
           f"- **Severity:** {inc['severity'] or 'TODO P1 / P2 / P3'}",
           f"- **Incident Commander:** {inc['commander'] or 'TODO [Name]'}",
           f"- **Author:** {record.get('author') or 'TODO [Name]'}", "",
           "## Timeline (UTC)", "| Time | Event |", "| ---- | ----- |",
           *[f"| {_stamp(at, day)} | {event} |" for at, event in timeline_rows(record)], "",
           *_tables(record, day), "",
           "## Impact",
           f"- **Users affected:** TODO [number / percentage]{impact}",
           "- **Tenants affected:** TODO [list]",
           f"- **Data loss:** {_loss_text(record['data_loss'])}",
           "- **Revenue impact:** TODO [estimate if applicable]", "",
           "## Root Cause",
           inc["root_cause"] or "TODO [Detailed technical explanation of what caused the incident]", "",
           "## What Went Well", *[f"- {w}" for w in well], "- TODO [List things that worked during incident response]",
           "",
           "## What Went Poorly", *[f"- {w}" for w in poorly], "- TODO [List things that didn't work or were slow]", "",
           "## Action Items", "| Action | Owner | Priority | Due Date | Status |",
           "| ------ | ----- | -------- | -------- | ------ |",
           *[f"| {a} | TODO | {inc['severity'] or 'P2'} | TODO | Open |" for a in actions],
           "| TODO [action] | [name] | P1/P2/P3 | YYYY-MM-DD | Open |", "",
           "## Lessons Learned", "TODO [Key takeaways for preventing similar incidents]", "",
           "## Related Documents", f"- Runbook used: {runbook}",
           "- Alert that fired: TODO [link to Grafana/Alertmanager]", f"- Backup used: {backups}",
           f"- Timeline record: `{record.get('record_file', 'the JSON record beside this file')}`", ""]
    return "\n".join(out)
