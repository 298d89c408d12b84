#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: incident_notify
short_description: Send the DR plan's incident messages to Slack, email and a JSON webhook
version_added: "0.1.0"
description:
  - Renders the FleetPulse DR plan's communication templates (section 4.2) for an incident
    C(declaration), an C(update), a C(resolution), or a C(failure) of the automated recovery
    (rendered with the update template), and delivers it to every configured channel the
    severity matrix (plan 4.1) routes it to.
  - Channels are Slack incoming webhooks, email through an SMTP server (STARTTLS and
    authentication by default) and a generic JSON webhook (the plan's "Phone", pointed at a
    paging or phone-call provider).
  - A delivery problem never fails the task. Each channel gets a result (C(sent), C(failed),
    C(skipped), C(would_send)), failures are reported as warnings, and the task succeeds, so a
    notification can never block a recovery. Only invalid arguments fail it.
  - Runs on the controller (an action plugin) and needs no connection to the managed host, so
    it works while that host is down.
  - Keeps the incident's state (start time, severity, commander, events) in the returned
    C(incident); pass it back in O(incident) on the next event so that updates and the
    resolution inherit it. The C(fleetpulse.dr.notify) role does this for you.
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
    details: In check mode the messages are rendered and routed but nothing is sent.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller and needs no connection to the managed host.
options:
  event:
    description:
      - Which message to send. C(failure) uses the update template with status C(Investigating)
        and a summary saying the automated recovery failed and for how long it ran.
    type: str
    required: true
    choices: [declaration, update, resolution, failure]
  severity:
    description:
      - Incident severity (plan 4.1). Defaults to the severity of the incident being updated,
        then to the scenario's severity (plan section 3), then C(P1).
    type: str
    choices: [P1, P2, P3]
  scenario:
    description:
      - The plan scenario, by playbook name (C(recover-database), C(rebuild-server), C(redeploy-app),
        C(recover-minio), C(dns-failover)) or section (C(3.1) ... C(3.5)). Gives the default
        severity, title and the RTO used for the ETA.
    type: str
  title:
    description: Incident title (email subject, review). Defaults to the scenario's title.
    type: str
  impact:
    description: Description of the user impact (declaration and resolution). Defaults to the severity's impact.
    type: str
  summary:
    description: What changed since the last update (update), or what failed (failure).
    type: str
  status:
    description: Status line of an update (plan 4.2). Updates default to C(Identified).
    type: str
    choices: [Investigating, Identified, Monitoring, Resolved]
  eta:
    description: ETA to resolution. Defaults to incident start plus the scenario's RTO.
    type: str
  root_cause:
    description: Brief root cause for the resolution notice.
    type: str
  commander:
    description: Incident commander's name.
    type: str
  started_at:
    description:
      - Start of the incident (any ISO 8601 timestamp, naive means UTC), when it began before the
        declaration is sent. Defaults to now on a declaration.
    type: str
  next_update:
    description:
      - Override of the "Next Update" line.
      - Defaults to now plus the severity's update cadence (P1 30 min, P2 1 h, P3 as resolved).
    type: str
  review_date:
    description:
      - Date of the post-incident review in the resolution notice.
      - Defaults to O(review_within_hours) after resolution.
    type: str
  review_within_hours:
    description: Hours after resolution within which the review is held (plan section 6).
    type: int
    default: 48
  environment:
    description:
      - Environment name. Anything other than C(production) is shown in the header,
        e.g. C([INCIDENT] FleetPulse (staging\) - P1).
    type: str
  rto_minutes:
    description: RTO in minutes for the ETA, when the scenario is not one of the plan's.
    type: float
  drill:
    description: Mark every message C([DRILL]) (communication plan drill, plan 5.1).
    type: bool
    default: false
  enabled:
    description:
      - When false, the message is rendered and the incident state kept, but nothing is sent
        (notifications off). The DR timeline still records the event.
    type: bool
    default: true
  incident:
    description: The C(incident) returned by the previous event of the same incident.
    type: dict
    default: {}
  channels:
    description:
      - Where messages go. Each entry is a mapping with C(type) (C(slack), C(email), C(webhook)),
        C(name), C(url) (slack and webhook), C(to) (email, a list of addresses), C(from) (email),
        C(headers) (webhook, extra HTTP headers such as Authorization), C(severities), C(events)
        (default all four), C(enabled), C(validate_certs), C(ca_file), and for Slack C(channel),
        C(username), C(icon_emoji).
      - Default C(severities) follow plan 4.1, slack P1-P3, email P1-P2, webhook P1 (the plan's "Phone").
      - A broken entry is reported as a failed channel and does not stop the others.
    type: list
    elements: raw
    default: []
  smtp:
    description:
      - SMTP server for email channels, with keys C(host), C(port) (default 587 for C(starttls),
        465 for C(tls), 25 for C(none)), C(security) (C(starttls) default, C(tls), C(none)),
        C(username), C(password), C(from), C(ca_file), C(validate_certs) (default true).
      - Credentials are never sent over a connection without TLS.
    type: dict
    default: {}
  timeout:
    description: Seconds to wait for each delivery attempt.
    type: float
    default: 10.0
  retries:
    description: Extra attempts after a transient failure (connection refused, timeout, HTTP 5xx or 429, SMTP 4xx).
    type: int
    default: 1
  product:
    description: Product name in the message header.
    type: str
    default: FleetPulse
notes:
  - All channels are sent to in parallel; a dead endpoint costs at most O(timeout) times (O(retries) + 1) seconds.
  - URLs and SMTP credentials are never returned; delivery results show a URL's scheme, host and port only.
  - Use it with C(no_log=true), because webhook URLs carry tokens.
seealso:
  - name: DR plan section 4 (communication plan)
    description: docs/notifications.md in this collection.
    link: https://github.com/fleetpulse/ansible-collection-dr/blob/main/docs/notifications.md
"""

EXAMPLES = r"""
- name: Declare the incident
  fleetpulse.dr.incident_notify:
    event: declaration
    scenario: recover-database
    impact: API returns 500 errors for all tenants
    commander: Dana On-Call
    channels:
      - name: ops-slack
        type: slack
        url: "{{ vault_slack_webhook_url }}"
      - name: on-call-mail
        type: email
        to: [oncall@fleetpulse.example]
    smtp:
      host: smtp.fleetpulse.example
      username: dr-bot
      password: "{{ vault_smtp_password }}"
      from: dr-bot@fleetpulse.example
  register: declared
  no_log: true

- name: Resolve it
  fleetpulse.dr.incident_notify:
    event: resolution
    incident: "{{ declared.incident }}"
    root_cause: Disk full on the database volume corrupted a table
    channels: "{{ my_channels }}"
  no_log: true
"""

RETURN = r"""
event:
  description: The event sent.
  returned: success
  type: str
  sample: declaration
severity:
  description: Severity used for routing.
  returned: success
  type: str
  sample: P1
status:
  description: Incident status after this event.
  returned: success
  type: str
  sample: Investigating
message:
  description: The rendered message.
  returned: success
  type: dict
  contains:
    subject:
      description: Email subject (header line and title).
      type: str
      sample: "[INCIDENT] FleetPulse - P1: Database Corruption or Loss"
    text:
      description: The message as laid out in plan 4.2.
      type: str
      sample: |-
        [INCIDENT] FleetPulse - P1
        Status: Investigating
        Impact: API down
        Start Time: 2026-02-06 02:03 UTC
        Incident Commander: Dana
        Next Update: 2026-02-06 02:33 UTC
    fields:
      description: The template's fields, label to value.
      type: dict
incident:
  description:
    - Incident state to pass to the next event (id, title, scenario, section, severity, environment, started_at,
      commander, impact, rto_minutes, drill, status, root_cause, resolved_at, events).
  returned: success
  type: dict
deliveries:
  description: One result per channel.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Channel name.
      type: str
    type:
      description: slack, email or webhook.
      type: str
    status:
      description:
        - sent, failed, skipped (not routed for this severity or event, or disabled) or would_send (check mode).
      type: str
    error:
      description: Why a delivery failed.
      type: str
      returned: when failed
    target:
      description: Where it went (URL scheme, host and port; SMTP host and port).
      type: str
      returned: when attempted
    attempts:
      description: Delivery attempts made.
      type: int
      returned: when attempted
counts:
  description: >-
    Number of channels per delivery status (sent, failed, skipped, would_send). Not top-level keys, because
    Ansible reads a top-level C(failed) or C(skipped) as the task's own state.
  returned: success
  type: dict
  sample: {"sent": 2, "failed": 1, "skipped": 0, "would_send": 0}
report:
  description:
    - Secret-free summary of this event for logs and the dr_timeline callback (event, at, incident_id, severity,
      status, counts, channels, lines).
  returned: success
  type: dict
stakeholders:
  description: Plan 4.3 for this severity, who must be notified, how and by when.
  returned: on declaration
  type: list
  elements: dict
  sample: [{"role": "CTO", "how": "Phone call", "due": "2026-02-06 02:18 UTC", "due_at": "2026-02-06T02:18:00.000Z"}]
"""
