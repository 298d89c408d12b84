# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of fleetpulse.dr.dr_backup_used (documentation: plugins/modules/dr_backup_used.py)."""

from __future__ import annotations

import os
from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_catalog import (
    format_duration,
    human_time,
    iso,
    parse_time,
    utcnow,
)

ARGUMENT_SPEC: dict[str, Any] = {
    "backup": {"type": "str", "required": True},
    "kind": {"type": "str", "default": "database"},
    "taken_at": {"type": "str"},
    "location": {"type": "str"},
    "sha256": {"type": "str"},
    "data_loss_seconds": {"type": "float"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        task_vars = task_vars or {}
        name = args["backup"].strip()
        if not name:
            result.update(failed=True, msg="backup must name the backup file or object that was restored")
            return result
        taken = parse_time(args["taken_at"]) if args["taken_at"] else parse_time(os.path.basename(name))
        entry: dict[str, Any] = {"name": os.path.basename(name.rstrip("/")) or name, "kind": args["kind"],
                                 "taken_at": iso(taken)}
        if name != entry["name"] or args["location"]:
            entry["location"] = args["location"] or name
        if args["sha256"]:
            entry["sha256"] = args["sha256"]
        previous = task_vars.get("dr_timeline_backup_used") or []
        if not isinstance(previous, list):
            previous = [previous]
        used = [b for b in previous if not (isinstance(b, dict) and b.get("name") == entry["name"]
                                            and b.get("kind") == entry["kind"])] + [entry]
        facts: dict[str, Any] = {"dr_timeline_backup_used": used}
        if args["data_loss_seconds"] is not None:
            facts["dr_timeline_data_loss_seconds"] = args["data_loss_seconds"]
        if taken is not None:
            age = (utcnow() - taken).total_seconds()
            msg = (f"backup used: {entry['name']} ({args['kind']}, taken {human_time(taken)}, "
                   f"{format_duration(age)} ago)")
        else:
            msg = f"backup used: {entry['name']} ({args['kind']}, time unknown)"
            if args["data_loss_seconds"] is None:
                result["warnings"] = [f"the data-loss window of {entry['name']} is unknown: pass taken_at "
                                      "(or data_loss_seconds) to fleetpulse.dr.dr_backup_used"]
        result.update(changed=False, msg=msg, backup=entry, ansible_facts=facts)
        return result
