#!/usr/bin/python
# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: db_lock
short_description: Hold the database lock shared by backups and restores across several tasks
version_added: 0.1.0
description:
  - Takes the exclusive C(flock) that C(fleetpulse-backup) takes for every backup (default
    C(/run/lock/fleetpulse-db.lock)), so that no backup starts while a restore runs and no restore starts while
    a backup runs.
  - A restore is many tasks long, so the lock is kept by a small detached holder process on the managed host
    that writes the same kind of holder line as the backup program (C(pid N (purpose; owner TOKEN) since TIME)).
    It lets go when O(state=released) is run with the same O(owner), or by itself after O(ttl) seconds, so a
    controller that died mid-run cannot block the nightly backup forever.
  - When the lock is busy the task fails with the holder's line (pid, what it is, since when) and the fix,
    before anything else has been done.
author:
  - FleetPulse Platform Engineering (@fleetpulse)
attributes:
  check_mode:
    support: full
    description: Probes whether the lock is free (taking and dropping it at once) and reports what would happen.
  diff_mode:
    support: none
    description: Nothing to diff.
  platform:
    support: full
    platforms: posix
    description: Linux hosts (flock(2) and C(setsid)).
options:
  path:
    description: The lock file (the backup program's C(db_backup_lock_path)).
    type: path
    default: /run/lock/fleetpulse-db.lock
  state:
    description:
      - V(held) takes the lock (no change when O(owner) holds it already); V(released) lets it go (no change
        when O(owner) does not hold it; a lock held by anyone else is never touched).
    type: str
    default: held
    choices: [held, released]
  owner:
    description:
      - Token naming this run's hold, written into the holder line; O(state=released) releases only a hold with
        the same token. Letters, digits, and the characters C(_), C(.), C(:), C(@) and C(-).
    type: str
    required: true
  purpose:
    description: What holds the lock, shown to whoever finds it busy.
    type: str
    default: fleetpulse.dr restore
  timeout:
    description: Seconds to wait for a busy lock before failing; V(0) fails at once.
    type: float
    default: 0
  ttl:
    description:
      - Seconds after which the holder lets go by itself. Longer than the longest restore (plan section 1, RTO 4 h);
        a restore that outlives it runs without the lock.
    type: float
    default: 21600
seealso:
  - module: fleetpulse.dr.backup_verify
notes:
  - The holder survives the task (it is detached with C(setsid)), like C(async) tasks do; SSH and C(docker exec)
    connections return at once.
"""

EXAMPLES = r"""
- name: Take the database lock for the restore (fails naming the holder when a backup runs)
  fleetpulse.dr.db_lock:
    owner: "recover-database-{{ db_restore__stamp }}"
    purpose: recover-database restore of fleetpulse
  register: db_restore__lock

- name: Let it go (in an always block)
  fleetpulse.dr.db_lock:
    owner: "recover-database-{{ db_restore__stamp }}"
    state: released
"""

RETURN = r"""
held:
  description: Whether O(owner) holds the lock after the task (in check mode, whether it would).
  returned: always
  type: bool
  sample: true
holder:
  description: The holder line found in (or written to) the lock file, empty when free.
  returned: always
  type: str
  sample: >-
    pid 4242 (recover-database restore of fleetpulse; owner recover-database-20260206T030000Z)
    since 2026-02-06T03:00:02Z
pid:
  description: Pid of the holder process, or null.
  returned: always
  type: int
  sample: 4242
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetpulse.dr.plugins.module_utils.dblock import (
    LockError,
    busy_message,
    hold,
    is_locked,
    read_holder,
    release,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/run/lock/fleetpulse-db.lock"},
            "state": {"type": "str", "default": "held", "choices": ["held", "released"]},
            "owner": {"type": "str", "required": True},
            "purpose": {"type": "str", "default": "fleetpulse.dr restore"},
            "timeout": {"type": "float", "default": 0},
            "ttl": {"type": "float", "default": 21600},
        },
        supports_check_mode=True,
    )
    p = module.params
    path, owner = p["path"], p["owner"]
    current = read_holder(path)
    locked = is_locked(path)
    ours = locked and current.owner == owner
    if p["state"] == "held":
        if ours:
            module.exit_json(changed=False, held=True, holder=current.line, pid=current.pid)
        if module.check_mode:
            if locked:
                module.fail_json(msg=busy_message(path, current, 0), held=False, holder=current.line,
                                 pid=current.pid)
            module.exit_json(changed=True, held=True, holder="", pid=None,
                             msg=f"would take the database lock {path} (it is free)")
        try:
            holder = hold(path, p["purpose"], owner, p["timeout"], p["ttl"])
        except LockError as exc:
            seen = read_holder(path)
            module.fail_json(msg=str(exc), held=False, holder=seen.line, pid=seen.pid)
        module.exit_json(changed=True, held=True, holder=holder.line, pid=holder.pid)
    # released
    if not ours:
        module.exit_json(changed=False, held=False, holder=current.line if locked else "",
                         pid=current.pid if locked else None)
    if module.check_mode:
        module.exit_json(changed=True, held=False, holder=current.line, pid=current.pid)
    try:
        released, holder = release(path, owner)
    except LockError as exc:
        module.fail_json(msg=str(exc), held=True, holder=current.line, pid=current.pid)
    module.exit_json(changed=released, held=False, holder="", pid=holder.pid)


if __name__ == "__main__":
    main()
