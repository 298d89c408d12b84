# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of fleetpulse.dr.incident_notify (documentation: plugins/modules/incident_notify.py).

Runs on the controller only: it needs no connection to the managed host, so it still
reports a server-failure incident when that server is gone.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_catalog import (
    EVENTS,
    SEVERITIES,
    STATUSES,
    iso,
    utcnow,
)
from ansible_collections.fleetpulse.dr.plugins.module_utils.incident_notify import (
    NotifyInputError,
    deliver,
    next_incident_state,
    normalise_channels,
    render,
    route,
    stakeholder_deadlines,
)

ARGUMENT_SPEC: dict[str, Any] = {
    "event": {"type": "str", "required": True, "choices": list(EVENTS)},
    "severity": {"type": "str", "choices": list(SEVERITIES)},
    "scenario": {"type": "str"},
    "title": {"type": "str"},
    "impact": {"type": "str"},
    "summary": {"type": "str"},
    "status": {"type": "str", "choices": list(STATUSES)},
    "eta": {"type": "str"},
    "root_cause": {"type": "str"},
    "commander": {"type": "str"},
    "started_at": {"type": "str"},
    "next_update": {"type": "str"},
    "review_date": {"type": "str"},
    "review_within_hours": {"type": "int", "default": 48},
    "environment": {"type": "str"},
    "rto_minutes": {"type": "float"},
    "drill": {"type": "bool", "default": False},
    "enabled": {"type": "bool", "default": True},
    "incident": {"type": "dict", "default": {}},
    "channels": {"type": "list", "elements": "raw", "default": [], "no_log": True},
    "smtp": {"type": "dict", "default": {}, "no_log": True},
    "timeout": {"type": "float", "default": 10.0},
    "retries": {"type": "int", "default": 1},
    "product": {"type": "str", "default": "FleetPulse"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        now = utcnow()
        event = args["event"]
        try:
            state = next_incident_state(event, args, args["incident"], now)
            message = render(event, state, args, now, product=args["product"])
        except NotifyInputError as exc:
            result.update(failed=True, msg=str(exc))
            return result

        deliveries: list[dict[str, Any]] = []
        warnings: list[str] = []
        if args["enabled"]:
            channels, broken = normalise_channels(args["channels"])
            selected, skipped = route(channels, state["severity"], event)
            deliveries.extend(broken)
            if self._task.check_mode:
                deliveries.extend({"name": ch["name"], "type": ch["type"], "status": "would_send"} for ch in selected)
            elif selected:
                with ThreadPoolExecutor(max_workers=len(selected)) as pool:
                    futures = [pool.submit(deliver, ch, event, state, message, smtp=args["smtp"], now=now,
                                           timeout=args["timeout"], retries=args["retries"]) for ch in selected]
                    deliveries.extend(f.result() for f in futures)
            deliveries.extend(skipped)
            if not selected and not broken:
                warnings.append(f"no notification channel is routed for a {state['severity']} {event} "
                                "(configure notify_channels; plan 4.1 routes P1 to Slack, email and phone)")
        for d in deliveries:
            if d["status"] == "failed":
                warnings.append(f"incident {event} notification to {d['type']} channel '{d['name']}' failed: "
                                f"{d.get('error', 'unknown error')} (the recovery continues)")

        counts = {s: sum(1 for d in deliveries if d["status"] == s)
                  for s in ("sent", "failed", "skipped", "would_send")}
        state["events"] = [*state["events"], {"event": event, "at": iso(now), "status": state["status"],
                                              "sent": counts["sent"], "failed": counts["failed"]}][-50:]
        report = {
            "event": event,
            "at": iso(now),
            "incident_id": state["id"],
            "title": state["title"],
            "scenario": state["scenario"],
            "severity": state["severity"],
            "status": state["status"],
            "commander": state["commander"],
            "impact": state["impact"],
            "summary": message["fields"].get("Summary", ""),
            "root_cause": state["root_cause"] if event == "resolution" else "",
            "header": message["header"],
            "enabled": args["enabled"],
            "check_mode": bool(self._task.check_mode),
            **counts,
            "channels": [{k: d[k] for k in ("name", "type", "status", "error", "reason", "attempts") if k in d}
                         for d in deliveries],
        }
        if not args["enabled"]:
            summary = f"{message['header']} recorded; notifications are off (notify_enabled: false), nothing sent"
        elif self._task.check_mode:
            summary = f"{message['header']}: check mode, would send to {counts['would_send']} channel(s)"
        else:
            summary = (f"{message['header']}: sent to {counts['sent']} channel(s), {counts['failed']} failed, "
                       f"{counts['skipped']} not routed")
        report["lines"] = [summary] + [
            f"{d['type']} '{d['name']}': {d['status']}"
            + (f" ({d['error']})" if d.get("error") else f" ({d['reason']})" if d.get("reason") else "")
            for d in deliveries]
        stakeholders = stakeholder_deadlines(state["severity"], state["started_at"]) if event == "declaration" else []
        report["lines"] += [f"plan 4.3: notify {s['role']} {'now' if s['due'] == 'immediately' else 'by ' + s['due']}"
                            f" ({s['how']})" for s in stakeholders]
        result.update(
            changed=counts["sent"] > 0,
            msg=summary,
            event=event,
            severity=state["severity"],
            status=state["status"],
            incident=state,
            message={"subject": message["subject"], "text": message["text"], "fields": message["fields"]},
            deliveries=deliveries,
            report=report,
            # not top-level `failed` / `skipped`: Ansible would read those as the task's own state
            counts=counts,
        )
        if event == "declaration":
            result["stakeholders"] = stakeholders
        if warnings:
            result["warnings"] = warnings
        return result
