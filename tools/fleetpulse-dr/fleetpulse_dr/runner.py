"""Run one scenario through ansible-runner and follow it from its events.

Progress comes from the runner's events: a play is a phase (a task named ``Phase: ...``
also starts one, for playbooks that split a long play), a task start is a step, failed
and unreachable hosts are reported as they happen. The summary is what the playbook's
``Summary`` task printed (an ``ansible.builtin.debug`` task whose name contains
"summary") plus the recap numbers. Everything the runner writes (stdout, events, rc) and
our own ``fleetpulse-dr.json`` record land in ``<artifacts>/<ident>/``.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fleetpulse_dr.scenarios import Project, Scenario

RECAP_KEYS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")
RECAP_NAMES = {"failures": "failed", "dark": "unreachable"}
SECRET_RE = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)
DEBUG_ACTIONS = {"debug", "ansible.builtin.debug", "ansible.legacy.debug"}
RESULT_FILE = "fleetpulse-dr.json"


@dataclass
class Progress:
    """One thing worth telling the person waiting."""

    kind: str  # phase_start | phase_done | task | host_failed | host_unreachable | no_hosts
    text: str
    phase: str = ""
    phase_index: int = 0
    elapsed: float = 0.0
    host: str = ""


@dataclass
class Phase:
    name: str
    started: float
    duration: float | None = None
    tasks: int = 0
    failed_hosts: list[str] = field(default_factory=list)


@dataclass
class RunOptions:
    extravars: dict[str, Any] = field(default_factory=dict)
    inventory: str | None = None
    limit: str | None = None
    check: bool = False
    diff: bool = False
    vault_password_file: str | None = None
    timeout: int | None = None
    artifacts_dir: str | None = None
    ident: str | None = None
    verbosity: int = 0


@dataclass
class RunResult:
    scenario: str
    ident: str
    status: str
    rc: int
    artifact_dir: str
    started: str
    duration: float
    check: bool
    extravars: dict[str, Any]
    inventory: str | None
    limit: str | None
    recap: dict[str, dict[str, int]]
    summary: list[str]
    phases: list[dict[str, Any]]
    failures: list[str]

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    @property
    def totals(self) -> dict[str, int]:
        totals = dict.fromkeys(RECAP_NAMES.get(k, k) for k in RECAP_KEYS)
        for name in totals:
            totals[name] = sum(host.get(name, 0) for host in self.recap.values())
        return totals  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["totals"] = self.totals
        return data

    def format_summary(self) -> str:
        """The summary people read: outcome, the playbook's own summary, recap numbers, failures."""
        verdict = "SUCCEEDED" if self.ok else f"FAILED ({self.status}, rc={self.rc})"
        mode = " in check mode" if self.check else ""
        lines = [f"{self.scenario}{mode} {verdict} in {format_duration(self.duration)}"]
        if self.summary:
            lines.append("")
            lines += self.summary
        if self.failures:
            lines.append("")
            lines.append("Failures:")
            lines += [f"  {f}" for f in self.failures]
        t = self.totals
        lines.append("")
        lines.append(f"Recap: {len(self.recap)} host(s): ok={t['ok']} changed={t['changed']} failed={t['failed']} "
                     f"unreachable={t['unreachable']} skipped={t['skipped']} rescued={t['rescued']} "
                     f"ignored={t['ignored']}")
        for host, counts in sorted(self.recap.items()):
            nums = " ".join(f"{k}={counts.get(k, 0)}" for k in ("ok", "changed", "failed", "unreachable"))
            lines.append(f"  {host}: {nums}")
        if self.phases:
            timing = ", ".join(f"{p['name']} {format_duration(p['duration'] or 0)}" for p in self.phases)
            lines.append(f"Phases: {timing}")
        lines.append(f"Artifacts: {self.artifact_dir}")
        return "\n".join(lines)


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{sec:02d}s" if hours else f"{minutes}m{sec:02d}s"


def redact(extravars: dict[str, Any]) -> dict[str, Any]:
    return {k: ("********" if SECRET_RE.search(k) else v) for k, v in extravars.items()}


def _text(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class EventTracker:
    """Turns ansible-runner events into progress, phases, failures and the summary."""

    def __init__(self, on_progress: Callable[[Progress], None] | None = None) -> None:
        self.on_progress = on_progress or (lambda _p: None)
        self.t0 = time.monotonic()
        self.phases: list[Phase] = []
        self.failures: list[str] = []
        self._failed: list[tuple[str, str]] = []  # (host, text), kept at the end for hosts the recap counts as failed
        self.summary: list[str] = []
        self.recap: dict[str, dict[str, int]] = {}
        self.task_count = 0
        self._lock = threading.Lock()

    def _elapsed(self) -> float:
        return time.monotonic() - self.t0

    def _emit(self, kind: str, text: str, host: str = "") -> None:
        phase = self.phases[-1] if self.phases else None
        self.on_progress(Progress(kind=kind, text=text, phase=phase.name if phase else "",
                                  phase_index=len(self.phases), elapsed=self._elapsed(), host=host))

    def _close_phase(self) -> None:
        if self.phases and self.phases[-1].duration is None:
            phase = self.phases[-1]
            phase.duration = self._elapsed() - phase.started
            state = f"problems on {', '.join(phase.failed_hosts)}" if phase.failed_hosts else "done"
            took = format_duration(phase.duration)
            self._emit("phase_done", f"{phase.name}: {state} ({phase.tasks} task(s), {took})")

    def _record_problem(self, host: str, text: str) -> None:
        self._failed.append((host, text))
        if self.phases and host not in self.phases[-1].failed_hosts:
            self.phases[-1].failed_hosts.append(host)

    def finish(self) -> None:
        """After the run: without a recap (the run broke off), every problem seen is a failure."""
        with self._lock:
            self._close_phase()
            if not self.recap:
                self.failures = [text for _host, text in self._failed]

    def _open_phase(self, name: str) -> None:
        self._close_phase()
        self.phases.append(Phase(name=name or "(unnamed play)", started=self._elapsed()))
        self._emit("phase_start", self.phases[-1].name)

    def handle(self, event: dict[str, Any]) -> bool:
        with self._lock:
            self._handle(event.get("event", ""), event.get("event_data") or {})
        return True

    def _handle(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "playbook_on_play_start":
            self._open_phase(data.get("play") or data.get("name") or "")
        elif kind == "playbook_on_stats":
            self._stats(data)
        else:
            self._task_event(kind, data)

    def _task_event(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "playbook_on_task_start":
            task = data.get("task") or data.get("name") or "(unnamed task)"
            if task.lower().startswith("phase:"):
                self._open_phase(task.split(":", 1)[1].strip())
            self.task_count += 1
            if self.phases:
                self.phases[-1].tasks += 1
            self._emit("task", task)
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            res = data.get("res") or {}
            host = data.get("host", "?")
            msg = res.get("msg") or res.get("stderr") or res.get("reason") or "failed"
            self._record_problem(host, f"{host}: {data.get('task', '?')}: {_text(msg)}")
            self._emit("host_failed", self._failed[-1][1], host=host)
        elif kind == "runner_on_unreachable":
            # The event does not say whether the task ignores unreachable hosts (ignore_unreachable):
            # report it now, and keep it as a failure only if the recap counts the host unreachable.
            host = data.get("host", "?")
            self._record_problem(host, f"{host}: unreachable: {_text((data.get('res') or {}).get('msg', ''))}")
            self._emit("host_unreachable", self._failed[-1][1], host=host)
        elif kind == "runner_on_ok":
            task = str(data.get("task", ""))
            if data.get("task_action") in DEBUG_ACTIONS and "summary" in task.lower():
                msg = (data.get("res") or {}).get("msg")
                if isinstance(msg, list):
                    self.summary = [str(line) for line in msg]
                elif msg is not None:
                    self.summary = str(msg).splitlines()
        elif kind == "playbook_on_no_hosts_matched":
            self._emit("no_hosts", "no hosts matched")

    def _stats(self, data: dict[str, Any]) -> None:
        self._close_phase()
        hosts: set[str] = set()
        for key in RECAP_KEYS:
            hosts |= set((data.get(key) or {}).keys())
        self.recap = {
            host: {RECAP_NAMES.get(k, k): int((data.get(k) or {}).get(host, 0)) for k in RECAP_KEYS}
            for host in sorted(hosts)
        }
        # Failures that a rescue, ignore_errors or ignore_unreachable absorbed are not failures.
        bad = {h for h, c in self.recap.items() if c["failed"] or c["unreachable"]}
        self.failures = [text for host, text in self._failed if host in bad]


def new_ident(scenario: str) -> str:
    return f"{scenario}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}"


def run_scenario(project: Project, scenario: Scenario, options: RunOptions,
                 on_progress: Callable[[Progress], None] | None = None,
                 cancel: threading.Event | None = None) -> RunResult:
    """Run ``scenario`` with ansible-runner; blocks until it ends. Never prompts."""
    import ansible_runner  # noqa: PLC0415  (heavy import, only when running)

    ident = options.ident or new_ident(scenario.name)
    artifacts = Path(options.artifacts_dir or project.root / "artifacts").resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    tracker = EventTracker(on_progress)
    cmdline = []
    if options.check:
        cmdline.append("--check")
    if options.diff:
        cmdline.append("--diff")
    envvars = {
        # Never wait for a person: no prompts, no pager, plain text.
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "1",
        "PAGER": "cat",
    }
    if options.vault_password_file:
        envvars["ANSIBLE_VAULT_PASSWORD_FILE"] = str(Path(options.vault_password_file).resolve())
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.monotonic()
    # The private data dir holds the extra vars file and the environment: temporary, so that
    # values passed on the command line do not stay on disk; artifacts go to their own dir.
    private = Path(tempfile.mkdtemp(prefix="fleetpulse-dr-"))
    try:
        runner = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(project.root),
            artifact_dir=str(artifacts),
            ident=ident,
            playbook=str(project.playbook_path(scenario)),
            inventory=str(Path(options.inventory).resolve()) if options.inventory else None,
            limit=options.limit,
            extravars=dict(options.extravars),
            cmdline=" ".join(cmdline) or None,
            envvars=envvars,
            verbosity=options.verbosity or None,
            timeout=options.timeout,
            quiet=True,
            event_handler=tracker.handle,
            cancel_callback=cancel.is_set if cancel else None,
            settings={"suppress_ansible_output": True},
        )
    finally:
        shutil.rmtree(private, ignore_errors=True)
    tracker.finish()
    status = str(runner.status)
    rc = int(runner.rc if runner.rc is not None else 1)
    if status == "timeout":
        tracker.failures.append(f"timed out after {options.timeout}s")
    result = RunResult(
        scenario=scenario.name, ident=ident, status=status, rc=rc,
        artifact_dir=str(artifacts / ident), started=started_at, duration=time.monotonic() - t0,
        check=options.check, extravars=redact(options.extravars), inventory=options.inventory,
        limit=options.limit, recap=tracker.recap, summary=tracker.summary,
        phases=[asdict(p) for p in tracker.phases], failures=tracker.failures,
    )
    if not result.ok and not result.failures:
        result.failures.append(_last_error(artifacts / ident) or f"ansible-playbook ended with rc={rc}")
    out = artifacts / ident
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULT_FILE).write_text(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    return result


def _last_error(artifact_dir: Path) -> str:
    """The end of ansible-playbook's output, for errors that happen outside a task (syntax, inventory)."""
    stdout = artifact_dir / "stdout"
    if not stdout.is_file():
        return ""
    lines = [ln for ln in stdout.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "ERROR" in ln]
    return _text(" ".join(errors[-2:] or lines[-3:]), 400)
