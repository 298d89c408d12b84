#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dr_backup_used
short_description: Record which backup a recovery restored, for the DR timeline and review
version_added: "0.1.0"
description:
  - Publishes the backup a restore used as the facts C(dr_timeline_backup_used) (a list, each
    call adds one backup) and, when given, C(dr_timeline_data_loss_seconds).
  - The C(fleetpulse.dr.dr_timeline) callback reads these facts from any task result and fills
    the post-incident review's "Backup used" and "Data loss" fields. Without an explicit
    O(data_loss_seconds), the data-loss window of each backup is computed as the time from the
    backup to the start of the incident (the declaration, else the first phase); the run's window,
    the largest of the data backups (any O(kind) but C(config)), is checked against the plan's RPO
    (24 h).
  - In a loop, the callback records every item; the fact itself then holds the backups recorded
    before the task and the last item.
  - Roles use this module because their own facts must carry the role prefix; playbooks may
    equally set the two facts with M(ansible.builtin.set_fact).
  - Changes nothing and needs no connection to the host.
author:
  - FleetPulse Platform Engineering (@fleetpulse)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
    details: Everything runs in the action plugin, on the controller.
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Only sets facts; the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller and needs no connection to the managed host.
options:
  backup:
    description: File name, path or object URL of the backup restored.
    type: str
    required: true
  kind:
    description: What the backup holds, e.g. C(database), C(objects), C(config).
    type: str
    default: database
  taken_at:
    description:
      - When the backup was taken (ISO 8601; naive means UTC). Defaults to the time in the
        plan's file name C(car_rental_backup_YYYYMMDD_HHMMSS.sql.gz).
    type: str
  location:
    description: Where it came from (local directory, S3 URL). Defaults to O(backup) when that is a path.
    type: str
  sha256:
    description: Checksum of the backup, for the record.
    type: str
  data_loss_seconds:
    description:
      - The data-loss window when it is known better than "backup age at incident start", e.g. after a
        point-in-time recovery replayed WAL up to a minute before the failure.
    type: float
seealso:
  - module: fleetpulse.dr.dr_phase
  - plugin: fleetpulse.dr.dr_timeline
    plugin_type: callback
"""

EXAMPLES = r"""
- name: Record the database backup used
  fleetpulse.dr.dr_backup_used:
    backup: /opt/fleetpulse/backups/car_rental_backup_20260206_020000.sql.gz

- name: Record the object-storage mirror used
  fleetpulse.dr.dr_backup_used:
    backup: s3://fleetpulse-offsite/fleetpulse/minio/2026-02-02/
    kind: objects
    taken_at: "2026-02-02T03:00:00Z"

- name: Record a point-in-time recovery
  fleetpulse.dr.dr_backup_used:
    backup: base backup 20260205-020000F + WAL
    taken_at: "2026-02-05T02:00:00Z"
    data_loss_seconds: 45
"""

RETURN = r"""
backup:
  description: The entry added to C(dr_timeline_backup_used).
  returned: success
  type: dict
  sample:
    name: car_rental_backup_20260206_020000.sql.gz
    kind: database
    taken_at: "2026-02-06T02:00:00.000Z"
    location: /opt/fleetpulse/backups/car_rental_backup_20260206_020000.sql.gz
ansible_facts:
  description: Facts set.
  returned: success
  type: dict
  contains:
    dr_timeline_backup_used:
      description: Every backup recorded on this host so far in the run (name, kind, taken_at, location, sha256).
      type: list
      elements: dict
    dr_timeline_data_loss_seconds:
      description: The explicit data-loss window.
      type: float
      returned: when data_loss_seconds is given
"""
