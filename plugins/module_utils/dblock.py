# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The database lock shared by backups and restores, held across many Ansible tasks.

``fleetpulse-backup`` takes an exclusive ``flock`` on ``/run/lock/fleetpulse-db.lock`` for
one run and writes ``pid N (purpose) since TIME`` into the file. A restore is a series
of tasks (verify, stop the app, restore, swap, migrate, start), so no single process of
it lives long enough to hold that lock. :func:`hold` therefore starts a small detached
holder process that takes the same lock, writes the same kind of line (plus an owner
token), and keeps it until :func:`release` is called with that token or ``ttl`` seconds
pass (so a controller that died mid-run cannot block backups forever).

Standard library only; runs on the managed host.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import os
import re
import signal
import time
from dataclasses import dataclass

HOLDER_RE = re.compile(r"^pid (?P<pid>\d+) \((?P<purpose>.*?)\) since (?P<since>\S+)")
OWNER_RE = re.compile(r"\bowner (?P<owner>[A-Za-z0-9_.:@-]+)\)")


class LockError(Exception):
    """The lock could not be taken or released; the message names the holder and the fix."""


@dataclass
class Holder:
    line: str
    pid: int | None
    owner: str | None
    alive: bool

    @classmethod
    def parse(cls, text: str) -> Holder:
        line = text.strip().splitlines()[0] if text.strip() else ""
        m = HOLDER_RE.match(line)
        pid = int(m.group("pid")) if m else None
        o = OWNER_RE.search(line)
        return cls(line=line, pid=pid, owner=o.group("owner") if o else None, alive=_alive(pid))


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_holder(path: str) -> Holder:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return Holder.parse(handle.read(512))
    except FileNotFoundError:
        return Holder("", None, None, False)


def is_locked(path: str) -> bool:
    """Whether someone holds the flock now (probed without keeping it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a probe lock we may have taken
    return False


def busy_message(path: str, holder: Holder, waited: float) -> str:
    who = holder.line or "a process that wrote no holder line"
    return (f"the database lock {path} is held by {who}: another backup or restore is running on this host "
            f"(waited {waited:g}s). Let it finish (systemctl status fleetpulse-backup.service; ps -p "
            f"{holder.pid or '?'} -o pid,etime,args), or, if that process is gone or hung, stop it; then run again")


def _daemon(path: str, line: str, timeout: float, ttl: float, report_fd: int) -> None:
    """The holder process (never returns): take the lock, report, keep it until SIGTERM or ttl."""
    os.setsid()
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(devnull, target)
    os.closerange(3, report_fd)
    os.closerange(report_fd + 1, 1024)
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 512, 0).decode(errors="replace").strip().splitlines()
                    os.write(report_fd, ("busy " + (holder[0] if holder else "")).encode())
                    os._exit(1)
                time.sleep(0.2)
        text = line.replace("{pid}", str(os.getpid())).replace("{since}", _now())
        os.ftruncate(fd, 0)
        os.pwrite(fd, (text + "\n").encode(), 0)
        os.fsync(fd)

        def leave(_signum: int, _frame: object) -> None:
            os.ftruncate(fd, 0)
            os._exit(0)

        signal.signal(signal.SIGTERM, leave)
        signal.signal(signal.SIGINT, leave)
        os.write(report_fd, f"held {os.getpid()} {text}".encode())
        os.close(report_fd)
        end = time.monotonic() + ttl
        while time.monotonic() < end:
            time.sleep(min(60.0, max(end - time.monotonic(), 0.01)))
        os.ftruncate(fd, 0)
    except Exception as exc:  # the parent must hear about any failure, then the process ends
        with contextlib.suppress(OSError):
            os.write(report_fd, f"error {exc}".encode())
    os._exit(0)


def hold(path: str, purpose: str, owner: str, timeout: float, ttl: float) -> Holder:
    """Start the holder process; return it once it holds the lock. Raises LockError when busy."""
    if not re.fullmatch(r"[A-Za-z0-9_.:@-]+", owner):
        raise LockError(f"owner {owner!r} may only contain letters, digits and _ . : @ -")
    line = f"pid {{pid}} ({purpose.replace(')', ']').replace('(', '[')}; owner {owner}) since {{since}}"
    read_end, write_end = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_end)
        try:
            _daemon(path, line, timeout, ttl, write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)  # the first child exits at once; the holder lives on, reparented
    chunks = []
    while True:
        block = os.read(read_end, 4096)
        if not block:
            break
        chunks.append(block)
    os.close(read_end)
    answer = b"".join(chunks).decode(errors="replace")
    if answer.startswith("held "):
        _word, hpid, text = answer.split(" ", 2)
        return Holder(text.strip(), int(hpid), owner, True)
    if answer.startswith("busy"):
        holder = Holder.parse(answer[5:])
        raise LockError(busy_message(path, holder, round(time.monotonic() - started, 1)))
    raise LockError(f"could not take the database lock {path}: {answer.removeprefix('error ') or 'holder died'}")


def release(path: str, owner: str, wait: float = 30.0) -> tuple[bool, Holder]:
    """Stop our holder (the one whose line names ``owner``). Returns (released, holder seen)."""
    holder = read_holder(path)
    if holder.owner != owner or not holder.pid:
        return False, holder
    if holder.alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(holder.pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while is_locked(path) and read_holder(path).owner == owner:
        if time.monotonic() >= deadline:
            raise LockError(f"the holder of {path} (pid {holder.pid}) did not let go within {wait:g}s: "
                            f"kill {holder.pid}")
        time.sleep(0.1)
    return True, holder
