# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of fleetpulse.dr.dr_phase (documentation: plugins/modules/dr_phase.py)."""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_catalog import (
    MILESTONES,
    SEVERITIES,
    canonical_service,
    iso,
    parse_time,
    scenario_info,
    utcnow,
)

ARGUMENT_SPEC: dict[str, Any] = {
    "phase": {"type": "str", "required": True},
    "scenario": {"type": "str"},
    "severity": {"type": "str", "choices": list(SEVERITIES)},
    "services": {"type": "list", "elements": "str"},
    "milestone": {"type": "str", "choices": list(MILESTONES)},
    "at": {"type": "str"},
    "note": {"type": "str"},
    "rto_minutes": {"type": "float"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        phase = (args["phase"] or "").strip()
        if not phase:
            result.update(failed=True, msg="phase must name the phase that starts now, e.g. 'Restore database'")
            return result
        when = utcnow()
        if args["at"]:
            parsed = parse_time(args["at"])
            if parsed is None:
                result.update(failed=True, msg=f"at: cannot read {args['at']!r} as a time; "
                                               "use ISO 8601, e.g. 2026-02-06T01:53:00Z")
                return result
            when = parsed
        marker: dict[str, Any] = {"phase": phase, "at": iso(when), "backdated": bool(args["at"])}
        warnings = []
        if args["scenario"]:
            info = scenario_info(args["scenario"])
            if info is None and args["rto_minutes"] is None:
                warnings.append(f"scenario {args['scenario']!r} is not one of the plan's (recover-database, "
                                "rebuild-server, redeploy-app, recover-minio, dns-failover): "
                                "no RTO target unless rto_minutes is given")
            marker.update(scenario=(info or {}).get("key") or args["scenario"],
                          section=(info or {}).get("section", ""),
                          title=(info or {}).get("title", args["scenario"]))
            if info:
                marker.update(severity=info["severity"], rto_minutes=info["rto_minutes"],
                              services=list(info["services"]))
        for key in ("severity", "milestone", "note", "rto_minutes"):
            if args[key] is not None:
                marker[key] = args[key]
        if args["services"]:
            marker["services"] = [canonical_service(s) for s in args["services"]]
        label = f"PHASE: {phase}"
        if args.get("milestone"):
            label += f" [{MILESTONES[args['milestone']]}]"
        result.update(changed=False, msg=label, dr_phase=marker)
        if marker.get("scenario"):
            # lets the notify role's declaration default to this run's scenario
            result["ansible_facts"] = {"dr_timeline_scenario": marker["scenario"]}
        if warnings:
            result["warnings"] = warnings
        return result
