# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleetpulse.dr.db_lock through Ansible: the restore's hold on the lock the backup program takes.

The other side is the backup program's own lock code (module_utils/dbbackup.Lock, what
``fleetpulse-backup db`` runs), so these tests show both directions of the exclusion.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from pg_world import run_module, wait_until

from ansible_collections.fleetpulse.dr.plugins.module_utils import dbbackup
from ansible_collections.fleetpulse.dr.plugins.module_utils.dblock import is_locked, read_holder

pytestmark = pytest.mark.integration


def _hold(lock: Path, owner: str, **extra) -> dict:
    return run_module("db_lock", {"path": str(lock), "owner": owner, "purpose": "recover-database test", **extra})


def test_hold_blocks_a_backup_and_names_the_restore(tmp_path: Path) -> None:
    lock = tmp_path / "fleetpulse-db.lock"
    held = _hold(lock, "restore-1")
    try:
        assert held["_rc"] == 0 and held["changed"] is True and held["held"] is True
        holder_pid = held["pid"]
        assert holder_pid != os.getpid() and read_holder(str(lock)).pid == holder_pid
        # The task returned, yet the lock stays held by the detached holder.
        assert is_locked(str(lock))
        backup = "fleetpulse-backup db --type daily"
        with pytest.raises(dbbackup.LockBusy) as busy, dbbackup.Lock(str(lock), 0.5, backup):
            pass
        assert f"pid {holder_pid} (recover-database test; owner restore-1)" in str(busy.value)
        # Taking it again with the same owner changes nothing; another owner is refused with the holder.
        again = _hold(lock, "restore-1")
        assert again["_rc"] == 0 and again["changed"] is False
        other = _hold(lock, "restore-2")
        assert other["_rc"] != 0
        assert f"held by pid {holder_pid} (recover-database test; owner restore-1)" in other["msg"]
        # Releasing with another owner never touches our hold.
        wrong = run_module("db_lock", {"path": str(lock), "owner": "restore-2", "state": "released"})
        assert wrong["_rc"] == 0 and wrong["changed"] is False and is_locked(str(lock))
    finally:
        released = run_module("db_lock", {"path": str(lock), "owner": "restore-1", "state": "released"})
    assert released["_rc"] == 0 and released["changed"] is True
    assert not is_locked(str(lock))
    with dbbackup.Lock(str(lock), 0, "fleetpulse-backup db --type daily"):  # a backup can run again
        pass


def test_a_running_backup_refuses_the_restore_naming_it(tmp_path: Path) -> None:
    lock = tmp_path / "fleetpulse-db.lock"
    inside, leave = threading.Event(), threading.Event()

    def backup() -> None:
        with dbbackup.Lock(str(lock), 0, "fleetpulse-backup db --type daily"):
            inside.set()
            leave.wait(60)

    thread = threading.Thread(target=backup)
    thread.start()
    try:
        assert inside.wait(10)
        refused = _hold(lock, "restore-3")
        assert refused["_rc"] != 0
        assert f"pid {os.getpid()} (fleetpulse-backup db --type daily)" in refused["msg"]
        assert "another backup or restore is running" in refused["msg"]
        # Check mode says the same, without waiting.
        checked = run_module("db_lock", {"path": str(lock), "owner": "restore-3"}, check=True)
        assert checked["_rc"] != 0 and "fleetpulse-backup db --type daily" in checked["msg"]
    finally:
        leave.set()
        thread.join()
    checked = run_module("db_lock", {"path": str(lock), "owner": "restore-3"}, check=True)
    assert checked["_rc"] == 0 and checked["changed"] is True and not is_locked(str(lock))  # check mode held nothing


def test_timeout_waits_for_the_backup_to_finish(tmp_path: Path) -> None:
    lock = tmp_path / "fleetpulse-db.lock"
    inside, leave = threading.Event(), threading.Event()

    def backup() -> None:
        with dbbackup.Lock(str(lock), 0, "fleetpulse-backup db --type manual"):
            inside.set()
            leave.wait(60)

    thread = threading.Thread(target=backup)
    thread.start()
    assert inside.wait(10)
    timer = threading.Timer(3.0, leave.set)  # the "backup" finishes 3 s into the restore's wait
    timer.start()
    try:
        held = _hold(lock, "restore-4", timeout=60)
        assert held["_rc"] == 0 and held["held"] is True, held.get("msg")
    finally:
        thread.join()
        run_module("db_lock", {"path": str(lock), "owner": "restore-4", "state": "released"})


def test_the_holder_lets_go_after_its_ttl(tmp_path: Path) -> None:
    lock = tmp_path / "fleetpulse-db.lock"
    held = _hold(lock, "restore-5", ttl=2)
    assert held["_rc"] == 0
    assert is_locked(str(lock))
    wait_until("the holder to let go after its ttl", lambda: not is_locked(str(lock)), timeout=30)
    assert read_holder(str(lock)).line == ""
