#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dr_phase
short_description: Mark the start of a recovery phase for the DR timeline
version_added: "0.1.0"
description:
  - Marks that a phase of a recovery scenario starts now (or at O(at)). The
    C(fleetpulse.dr.dr_timeline) callback turns these markers into the run's timeline, with phase
    start and end times in UTC, durations, elapsed time against the plan's RTO for the scenario
    and the maximum downtime of the affected services' tiers (plan section 1), and a
    post-incident review draft (plan section 6).
  - A phase ends where the next one starts, or at the end of the run.
  - The first marker of a run should name the O(scenario); later markers inherit it.
  - Changes nothing and needs no connection to the host. Without the callback it only prints
    the phase name, so it is safe in every playbook.
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
    details: Only marks a time; the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller and needs no connection to the managed host.
options:
  phase:
    description: Name of the phase that starts now, e.g. C(Restore database).
    type: str
    required: true
  scenario:
    description:
      - The plan scenario this run carries out, by playbook name (C(recover-database) 3.1,
        C(rebuild-server) 3.2, C(redeploy-app) 3.3, C(recover-minio) 3.4, C(dns-failover) 3.5) or
        section number. Sets the RTO target, severity and affected services. Any other name is
        accepted with O(rto_minutes).
    type: str
  severity:
    description: Severity, when it differs from the scenario's.
    type: str
    choices: [P1, P2, P3]
  services:
    description:
      - Affected compose services, for the tier targets (tier 1 api, postgres, nginx 1 h; tier 2
        redis, minio, web 2 h; tier 3 prometheus, grafana, alertmanager 8 h). Defaults to the
        scenario's.
    type: list
    elements: str
  milestone:
    description:
      - Also marks one of the review template's timeline events at this time. C(restored) is
        where the RTO clock stops; C(declared) is where it starts (the incident declaration
        sent by the C(fleetpulse.dr.notify) role marks it too).
    type: str
    choices: [alert, declared, identified, fix_deployed, restored, all_clear]
  at:
    description:
      - When the phase or milestone happened, if not now (ISO 8601; naive means UTC). Use it
        for the first alert, which fired before the playbook started.
    type: str
  note:
    description: A note shown next to the phase in the timeline.
    type: str
  rto_minutes:
    description: RTO target in minutes for a scenario that is not one of the plan's.
    type: float
seealso:
  - plugin: fleetpulse.dr.dr_timeline
    plugin_type: callback
  - module: fleetpulse.dr.dr_backup_used
"""

EXAMPLES = r"""
- name: "PHASE: Preflight"
  fleetpulse.dr.dr_phase:
    phase: Preflight
    scenario: recover-database
  run_once: true

- name: "PHASE: Restore database"
  fleetpulse.dr.dr_phase:
    phase: Restore database
  run_once: true

- name: "PHASE: Verify (service restored)"
  fleetpulse.dr.dr_phase:
    phase: Verify
    milestone: restored
  run_once: true

- name: Record when the first alert fired
  fleetpulse.dr.dr_phase:
    phase: Alert
    milestone: alert
    at: "{{ alert_started_at }}"
  run_once: true
"""

RETURN = r"""
ansible_facts:
  description: Facts set.
  returned: when scenario is set
  type: dict
  contains:
    dr_timeline_scenario:
      description: The scenario key; the C(fleetpulse.dr.notify) role's declaration defaults to it.
      type: str
      sample: recover-database
dr_phase:
  description: The marker as the callback reads it.
  returned: success
  type: dict
  contains:
    phase:
      description: Phase name.
      type: str
    at:
      description: Start time, UTC ISO 8601 with milliseconds.
      type: str
      sample: "2026-02-06T02:03:04.123Z"
    scenario:
      description: Scenario key, when given.
      type: str
      returned: when scenario is set
    section:
      description: Plan section of the scenario.
      type: str
      returned: when scenario is set
    rto_minutes:
      description: RTO target in minutes.
      type: float
      returned: when known
    services:
      description: Affected services.
      type: list
      elements: str
      returned: when known
    milestone:
      description: Review timeline milestone.
      type: str
      returned: when milestone is set
"""
