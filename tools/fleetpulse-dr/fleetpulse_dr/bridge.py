"""Slack slash commands for the recovery scenarios: ``/dr status``, ``/dr recover-database env=staging``.

Every request must carry a valid Slack v0 signature with a fresh timestamp and must not
have been seen before; otherwise it is answered 401 and only the rejection is logged.
Signed requests from users or channels outside the allow-lists are refused. A
destructive scenario is never started by the first message: the bridge answers with a
one-time code, and only ``/dr confirm CODE`` from the same user, within the code's
lifetime, starts it (with the scenario's confirmation variable set to the environment
named in the request). Jobs run through ansible-runner on this machine, or as AWX job
templates when ``awx`` is configured; progress and the final summary are posted to the
request's response_url. Every step is appended to the audit log.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from fleetpulse_dr.awx import AwxClient, AwxError
from fleetpulse_dr.runner import Progress, RunOptions, RunResult, format_duration, run_scenario
from fleetpulse_dr.scenarios import ParamError, Project, RegistryError, Scenario
from fleetpulse_dr.security import AuditLog, Confirmations, Pending, Refused, Rejected, SignatureVerifier

MAX_BODY = 64 * 1024
SLACK_POSTS_PER_URL = 5  # Slack accepts up to five messages per response_url
LIMIT_RE = re.compile(r"^[A-Za-z0-9_.:,!&*\[\]-]+$")
RESERVED = ("env", "limit", "check")


class ConfigError(ValueError):
    pass


@dataclass
class Environment:
    name: str
    inventory: str | None = None  # local runs: inventory path (relative to the project)
    awx_inventory: str | None = None  # AWX runs: inventory name in AWX


@dataclass
class BridgeConfig:
    signing_secret: str = field(repr=False)
    allowed_users: set[str]
    allowed_channels: set[str]
    environments: dict[str, Environment]
    audit_log: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    path: str = "/slack/commands"
    destructive_users: set[str] = field(default_factory=set)
    default_environment: str | None = None
    artifacts_dir: str | None = None
    vault_password_file: str | None = None
    response_url_prefixes: tuple[str, ...] = ("https://hooks.slack.com/",)
    max_skew_seconds: float = 300
    confirm_ttl_seconds: float = 300
    progress_interval_seconds: float = 30
    job_timeout_seconds: int = 4 * 3600
    awx_url: str | None = None
    awx_token: str | None = field(default=None, repr=False)
    awx_ca_file: str | None = None
    awx_poll_interval_seconds: float = 5

    @classmethod
    def load(cls, path: Path | str) -> BridgeConfig:
        raw = yaml.safe_load(Path(path).read_text()) or {}
        return cls.from_dict(raw, base=Path(path).resolve().parent)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], base: Path = Path()) -> BridgeConfig:
        def secret(key: str, env: str, required: bool) -> str | None:
            if os.environ.get(env):
                return os.environ[env].strip()
            if raw.get(f"{key}_file"):
                return (base / raw[f"{key}_file"]).read_text().strip()
            if required:
                raise ConfigError(f"set {env} or {key}_file in the bridge configuration")
            return None

        envs = {}
        for name, spec in (raw.get("environments") or {}).items():
            envs[name] = Environment(name=name, inventory=(spec or {}).get("inventory"),
                                     awx_inventory=(spec or {}).get("awx_inventory"))
        if not envs:
            raise ConfigError("configure at least one environment (environments: {staging: {inventory: ...}})")
        default_env = raw.get("default_environment")
        if default_env and default_env not in envs:
            raise ConfigError(f"default_environment {default_env} is not one of {', '.join(envs)}")
        users, channels = set(raw.get("allowed_users") or []), set(raw.get("allowed_channels") or [])
        if not users or not channels:
            raise ConfigError("allowed_users and allowed_channels must each name at least one Slack ID")
        host, _sep, port = str(raw.get("listen", "127.0.0.1:8080")).rpartition(":")
        awx = raw.get("awx") or {}
        cfg = cls(
            signing_secret=secret("signing_secret", "FLEETPULSE_DR_SLACK_SIGNING_SECRET", True) or "",
            allowed_users=users, allowed_channels=channels, environments=envs,
            audit_log=base / raw.get("audit_log", "audit.jsonl"),
            listen_host=host or "127.0.0.1", listen_port=int(port),
            path=raw.get("path", "/slack/commands"),
            destructive_users=set(raw.get("destructive_users") or []),
            default_environment=default_env,
            artifacts_dir=raw.get("artifacts_dir"),
            vault_password_file=raw.get("vault_password_file"),
            response_url_prefixes=tuple(raw.get("response_url_prefixes") or ("https://hooks.slack.com/",)),
            max_skew_seconds=float(raw.get("max_skew_seconds", 300)),
            confirm_ttl_seconds=float(raw.get("confirm_ttl_seconds", 300)),
            progress_interval_seconds=float(raw.get("progress_interval_seconds", 30)),
            job_timeout_seconds=int(raw.get("job_timeout_seconds", 4 * 3600)),
        )
        if awx:
            cfg.awx_url = awx.get("url")
            if not cfg.awx_url:
                raise ConfigError("awx.url is required when awx is configured")
            cfg.awx_token = os.environ.get("FLEETPULSE_DR_AWX_TOKEN") or (
                (base / awx["token_file"]).read_text().strip() if awx.get("token_file") else None)
            if not cfg.awx_token:
                raise ConfigError("set FLEETPULSE_DR_AWX_TOKEN or awx.token_file")
            cfg.awx_ca_file = awx.get("ca_file")
            cfg.awx_poll_interval_seconds = float(awx.get("poll_interval_seconds", 5))
        return cfg


class Poster:
    """Messages to one Slack response_url: at most five, the last one kept for the final summary."""

    def __init__(self, url: str, budget: int = SLACK_POSTS_PER_URL, timeout: float = 10) -> None:
        if urllib.parse.urlparse(url).scheme not in ("http", "https"):
            raise ValueError(f"response_url must be http(s)://..., not {url!r}")
        self.url = url
        self.left = budget
        self.timeout = timeout
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def post(self, text: str, *, final: bool = False, in_channel: bool = True) -> bool:
        with self._lock:
            if self.left <= (0 if final else 1):
                return False
            self.left -= 1
        body = json.dumps({"response_type": "in_channel" if in_channel else "ephemeral",
                           "replace_original": False, "text": text}).encode()
        # S310: the scheme is checked in __init__ and the URL matched an allow-listed prefix.
        req = urllib.request.Request(self.url, data=body, method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                resp.read()
            return True
        except (urllib.error.URLError, OSError) as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return False


def _slack_block(lines: list[str] | str, limit: int = 3500) -> str:
    text = lines if isinstance(lines, str) else "\n".join(lines)
    if len(text) > limit:
        text = "...\n" + text[-limit:]
    return f"```\n{text}\n```"


@dataclass
class JobRequest:
    """A run the bridge has accepted: what, where, for whom, and where to report."""

    scenario: Scenario
    environment: str
    params: dict[str, Any]
    limit: str | None
    check: bool
    who: dict[str, str]
    response_url: str


@dataclass
class Job:
    scenario: str
    environment: str
    user_id: str
    started: float


class Bridge:
    """The slash-command logic, independent of HTTP (the server below feeds it)."""

    def __init__(self, project: Project, config: BridgeConfig, clock: Callable[[], float] = time.time) -> None:
        self.project = project
        self.config = config
        self.clock = clock
        self.verifier = SignatureVerifier(config.signing_secret, config.max_skew_seconds, clock)
        self.confirmations = Confirmations(config.confirm_ttl_seconds, clock)
        self.audit = AuditLog(config.audit_log)
        self.awx = (AwxClient(config.awx_url, config.awx_token or "", config.awx_ca_file)
                    if config.awx_url else None)
        self.jobs: dict[str, Job] = {}  # environment -> running job
        self._jobs_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ entry point
    def handle(self, headers: dict[str, str], body: bytes, remote: str = "") -> tuple[int, dict[str, Any]]:
        try:
            self.verifier.verify(headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature"), body)
        except Rejected as exc:
            self.audit.append("rejected", reason=str(exc), remote=remote)
            return HTTPStatus.UNAUTHORIZED, {"error": str(exc)}
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode(errors="replace")).items()}
        who = {"user_id": form.get("user_id", ""), "user_name": form.get("user_name", ""),
               "channel_id": form.get("channel_id", ""), "text": form.get("text", "")}
        try:
            text = self._command(form, who)
        except (Refused, ParamError, RegistryError) as exc:
            self.audit.append("refused", reason=str(exc), **who)
            text = f":no_entry: {exc}"
        return HTTPStatus.OK, {"response_type": "ephemeral", "text": text}

    # ------------------------------------------------------------------ commands
    def _command(self, form: dict[str, str], who: dict[str, str]) -> str:
        if who["user_id"] not in self.config.allowed_users:
            raise Refused(f"user {who['user_id'] or '?'} is not allowed to run recovery scenarios")
        if who["channel_id"] not in self.config.allowed_channels:
            raise Refused(f"recovery scenarios cannot be run from channel {who['channel_id'] or '?'}")
        response_url = form.get("response_url", "")
        if not any(response_url.startswith(p) for p in self.config.response_url_prefixes):
            raise Refused("the request's response_url is not an allowed Slack address")
        try:
            words = shlex.split(who["text"])
        except ValueError as exc:
            raise Refused(f"cannot read the command: {exc}") from None
        if not words or words[0] in ("help", "list"):
            return self._help()
        if words[0] == "confirm":
            if len(words) != 2:
                raise Refused("usage: /dr confirm CODE")
            return self._confirm(words[1], who, response_url)
        return self._request(words[0], words[1:], who, response_url)

    def _help(self) -> str:
        lines = ["Usage: `/dr SCENARIO [env=ENV] [limit=HOSTS] [check=true] [param=value ...]`, "
                 "`/dr confirm CODE`", ""]
        for s in sorted(self.project.scenarios.values(), key=lambda s: s.name):
            if not s.registered or not s.available:
                continue
            flag = " (destructive: asks for a confirmation code)" if s.destructive else ""
            params = " ".join(f"{p.name}=<{p.type}>" for p in s.params)
            lines.append(f"*{s.name}*{flag} {params}: {s.description}")
        lines.append(f"Environments: {', '.join(sorted(self.config.environments))}")
        return "\n".join(lines)

    def _scenario(self, name: str) -> Scenario:
        scenario = self.project.get(name)
        if not scenario.registered:
            raise Refused(f"{name} is not in the scenario registry: chat runs registered scenarios only")
        if not scenario.available:
            raise Refused(f"{name}: its playbook {scenario.playbook} is not installed on the bridge")
        return scenario

    def _request(self, name: str, words: list[str], who: dict[str, str], response_url: str) -> str:
        scenario = self._scenario(name)
        args: dict[str, str] = {}
        for word in words:
            key, sep, value = word.partition("=")
            if not sep or not key:
                raise Refused(f"expected key=value, got {word!r}")
            if key in args:
                raise Refused(f"{key} is given twice")
            args[key] = value
        env_name = args.pop("env", None)
        limit = args.pop("limit", None)
        check_raw = args.pop("check", "false").lower()
        if check_raw not in ("true", "false", "yes", "no"):
            raise Refused("check must be true or false")
        check = check_raw in ("true", "yes")
        if limit is not None and not LIMIT_RE.match(limit):
            raise Refused(f"limit {limit!r} has characters a host pattern does not need")
        params = scenario.convert_params(args)
        if env_name is None:
            if scenario.destructive:
                raise Refused(f"{name} is destructive: name the target environment "
                              f"(env={'|'.join(sorted(self.config.environments))})")
            env_name = self.config.default_environment or (
                next(iter(self.config.environments)) if len(self.config.environments) == 1 else None)
            if env_name is None:
                raise Refused(f"name the environment: env={'|'.join(sorted(self.config.environments))}")
        if env_name not in self.config.environments:
            raise Refused(f"unknown environment {env_name!r}; known: {', '.join(sorted(self.config.environments))}")
        may_destroy = not self.config.destructive_users or who["user_id"] in self.config.destructive_users
        if scenario.destructive and not may_destroy:
            raise Refused(f"user {who['user_id']} may not run destructive scenarios")
        record = {"scenario": name, "environment": env_name, "params": params, "limit": limit, "check": check}
        # Check mode too: it sets the confirmation variable, so it is confirmed like a real run.
        if scenario.destructive:
            pending = self.confirmations.issue(user_id=who["user_id"], channel_id=who["channel_id"], scenario=name,
                                               environment=env_name, params=params, limit=limit, check=check,
                                               response_url=response_url)
            self.audit.append("confirmation_requested", **who, **record)
            target = f"*{env_name}*" + (f" (limit {limit})" if limit else "") + (" in check mode" if check else "")
            extra = " ".join(f"{k}={v}" for k, v in params.items())
            return (f":warning: *{name}* is destructive: {scenario.description}.\n"
                    f"It will run on {target}{' with ' + extra if extra else ''} and set "
                    f"`{scenario.confirm_var}={env_name}`.\n"
                    f"To go ahead, send `/dr confirm {pending.code}` within "
                    f"{format_duration(self.config.confirm_ttl_seconds)}. The code works once, for you only.")
        self.audit.append("request", **who, **record)
        return self._start(JobRequest(scenario, env_name, params, limit, check, who, response_url))

    def _confirm(self, code: str, who: dict[str, str], response_url: str) -> str:
        pending: Pending = self.confirmations.redeem(code, who["user_id"])
        scenario = self._scenario(pending.scenario)
        self.audit.append("confirmed", **who, scenario=pending.scenario, environment=pending.environment,
                          params=pending.params, limit=pending.limit, code=code)
        params = dict(pending.params)
        if scenario.confirm_var:
            params[scenario.confirm_var] = pending.environment
        return self._start(JobRequest(scenario, pending.environment, params, pending.limit, pending.check, who,
                                      pending.response_url or response_url))

    # ------------------------------------------------------------------ jobs
    def _start(self, req: JobRequest) -> str:
        with self._jobs_lock:
            busy = self.jobs.get(req.environment)
            if busy:
                raise Refused(f"{busy.scenario} is running on {req.environment} (started by {busy.user_id} "
                              f"{format_duration(self.clock() - busy.started)} ago): wait for it to finish")
            self.jobs[req.environment] = Job(req.scenario.name, req.environment, req.who["user_id"], self.clock())
        thread = threading.Thread(target=self._run_job, args=(req,), name=f"dr-{req.scenario.name}", daemon=True)
        self._threads.append(thread)
        thread.start()
        mode = " in check mode" if req.check else ""
        via = "AWX" if self.awx else "ansible-runner"
        return f":rocket: Starting *{req.scenario.name}*{mode} on *{req.environment}* via {via}; progress follows here."

    def _execute(self, req: JobRequest, poster: Poster, on_progress: Callable[[Progress], None]) -> RunResult:
        env = self.config.environments[req.environment]
        if self.awx:
            template = f"{self.project.job_template_prefix}{req.scenario.name}"
            job_id = self.awx.launch(template, req.params, inventory=env.awx_inventory, limit=req.limit,
                                     check=req.check)
            poster.post(f"AWX job {job_id} launched from template {template!r}")
            return self.awx.follow(job_id, req.scenario.name, check=req.check, on_progress=on_progress,
                                   poll_interval=self.config.awx_poll_interval_seconds,
                                   timeout=self.config.job_timeout_seconds)
        inventory = str(self.project.root / env.inventory) if env.inventory else None
        return run_scenario(self.project, req.scenario, RunOptions(
            extravars=req.params, inventory=inventory, limit=req.limit, check=req.check,
            vault_password_file=self.config.vault_password_file, timeout=self.config.job_timeout_seconds,
            artifacts_dir=self.config.artifacts_dir), on_progress=on_progress)

    def _run_job(self, req: JobRequest) -> None:
        name, env_name, who = req.scenario.name, req.environment, req.who
        poster = Poster(req.response_url)
        last_post = [0.0]

        def on_progress(p: Progress) -> None:
            if p.kind not in ("phase_done", "host_failed", "host_unreachable"):
                return
            now = time.monotonic()
            if now - last_post[0] >= self.config.progress_interval_seconds and poster.post(
                    f"{name} on {env_name}: {p.text}"):
                last_post[0] = now

        started_by = f"<@{who['user_id']}>" if who["user_id"] else "?"
        poster.post(f"{started_by} started *{name}*{' (check mode)' if req.check else ''} on *{env_name}*")
        self.audit.append("started", **who, scenario=name, environment=env_name, params=req.params,
                          limit=req.limit, check=req.check)
        result: RunResult | None = None
        error = ""
        try:
            result = self._execute(req, poster, on_progress)
        except (AwxError, OSError, RuntimeError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            with self._jobs_lock:
                self.jobs.pop(env_name, None)
        if result is not None:
            icon = ":white_check_mark:" if result.ok else ":x:"
            poster.post(f"{icon} {_slack_block(result.format_summary())}", final=True)
            self.audit.append("finished", **who, scenario=name, environment=env_name,
                              result="succeeded" if result.ok else "failed", status=result.status, rc=result.rc,
                              totals=result.totals, job=result.ident, artifacts=result.artifact_dir,
                              duration=round(result.duration, 1), post_errors=poster.errors)
        else:
            poster.post(f":x: *{name}* on *{env_name}* could not run: {error}", final=True)
            self.audit.append("finished", **who, scenario=name, environment=env_name, result="error",
                              error=error, post_errors=poster.errors)

    def wait_idle(self, timeout: float) -> bool:
        """Wait for every job thread to end (tests, shutdown); False if some still run after ``timeout``."""
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)


class _Handler(BaseHTTPRequestHandler):
    server: BridgeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # access log to stderr, without bodies
        if not self.server.quiet:
            super().log_message(fmt, *args)

    def _reply(self, status: int, payload: dict[str, Any] | str) -> None:
        body = (json.dumps(payload) if isinstance(payload, dict) else payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if isinstance(payload, dict) else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(HTTPStatus.OK, "ok\n")
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != self.server.bridge.config.path:
            self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
            return
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload = self.server.bridge.handle(headers, body, remote=self.client_address[0])
        self._reply(status, payload)


class BridgeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, bridge: Bridge, quiet: bool = False) -> None:
        self.bridge = bridge
        self.quiet = quiet
        super().__init__((bridge.config.listen_host, bridge.config.listen_port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{self.bridge.config.path}"


def serve(project: Project, config_path: str) -> int:
    config = BridgeConfig.load(config_path)
    for env in config.environments.values():
        if env.inventory and not config.awx_url and not (project.root / env.inventory).exists():
            raise ConfigError(f"environment {env.name}: no inventory at {project.root / env.inventory}")
    server = BridgeServer(Bridge(project, config))
    stop = threading.Event()

    def shutdown(_sig: int, _frame: Any) -> None:
        if not stop.is_set():
            stop.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    print(f"fleetpulse-dr bridge: listening on {server.url} "
          f"({'AWX ' + config.awx_url if config.awx_url else 'ansible-runner'}; audit log {config.audit_log})",
          flush=True)
    server.serve_forever()
    server.server_close()
    print("fleetpulse-dr bridge: stopped; waiting for running jobs", flush=True)
    server.bridge.wait_idle(config.job_timeout_seconds)
    return 0
