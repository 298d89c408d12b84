"""Launch a scenario's AWX job template through the AWX REST API (api/v2) and follow the job.

Job templates are named ``<job_template_prefix><scenario>`` (meta/scenarios.yml), as
awx/configure.yml creates them; the inventory of an environment is named in the bridge
configuration. Only the standard library is used.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from fleetpulse_dr.runner import Progress, RunResult

FINISHED = {"successful", "failed", "error", "canceled"}


class AwxError(RuntimeError):
    pass


class AwxClient:
    def __init__(self, url: str, token: str, ca_file: str | None = None, timeout: float = 30) -> None:
        if urllib.parse.urlparse(url).scheme not in ("http", "https"):
            raise AwxError(f"the AWX url must be http(s)://..., not {url!r}")
        self.url = url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self._context = ssl.create_default_context(cafile=ca_file) if url.startswith("https") else None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        # S310: the scheme is checked in __init__ (http or https only).
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers={  # noqa: S310
            "Authorization": f"Bearer {self._token}", "Content-Type": "application/json",
            "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._context) as resp:  # noqa: S310
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise AwxError(f"AWX {method} {path}: HTTP {exc.code}: {detail}") from None
        except urllib.error.URLError as exc:
            raise AwxError(f"AWX {method} {path}: {exc.reason}") from None

    def find_id(self, kind: str, name: str) -> int:
        found = self.request("GET", f"/api/v2/{kind}/?{urllib.parse.urlencode({'name': name})}")
        results = (found or {}).get("results") or []
        if len(results) != 1:
            raise AwxError(f"AWX has {len(results)} {kind} named {name!r} (expected exactly one): "
                           "run awx/configure.yml")
        return int(results[0]["id"])

    def launch(self, template: str, extra_vars: dict[str, Any], *, inventory: str | None, limit: str | None,
               check: bool) -> int:
        body: dict[str, Any] = {"extra_vars": extra_vars}
        if inventory:
            body["inventory"] = self.find_id("inventories", inventory)
        if limit:
            body["limit"] = limit
        if check:
            body["job_type"] = "check"
        template_id = self.find_id("job_templates", template)
        launched = self.request("POST", f"/api/v2/job_templates/{template_id}/launch/", body)
        return int(launched["job"])

    def follow(self, job_id: int, scenario: str, *, check: bool, on_progress: Callable[[Progress], None],
               poll_interval: float = 5, timeout: float = 4 * 3600) -> RunResult:
        """Poll the job until it ends (or ``timeout``); return its result with summary and recap."""
        t0 = time.monotonic()
        status = ""
        job: dict[str, Any] = {}
        while time.monotonic() - t0 < timeout:
            job = self.request("GET", f"/api/v2/jobs/{job_id}/")
            if job["status"] != status:
                status = job["status"]
                on_progress(Progress(kind="phase_start", text=f"AWX job {job_id}: {status}",
                                     elapsed=time.monotonic() - t0))
            if status in FINISHED:
                break
            time.sleep(poll_interval)
        else:
            status = "timeout"
        summary: list[str] = []
        events = self.request("GET", f"/api/v2/jobs/{job_id}/job_events/?"
                              + urllib.parse.urlencode({"event": "runner_on_ok", "task__icontains": "summary",
                                                        "order_by": "-counter"}))
        for event in (events or {}).get("results") or []:
            msg = ((event.get("event_data") or {}).get("res") or {}).get("msg")
            if msg is not None:
                summary = [str(x) for x in msg] if isinstance(msg, list) else str(msg).splitlines()
                break
        recap: dict[str, dict[str, int]] = {}
        stats = self.request("GET", f"/api/v2/jobs/{job_id}/job_events/?event=playbook_on_stats")
        for event in (stats or {}).get("results") or []:
            data = event.get("event_data") or {}
            names = {"ok": "ok", "changed": "changed", "failures": "failed", "dark": "unreachable",
                     "skipped": "skipped", "rescued": "rescued", "ignored": "ignored"}
            hosts = {h for key in names for h in (data.get(key) or {})}
            recap = {h: {v: int((data.get(k) or {}).get(h, 0)) for k, v in names.items()} for h in sorted(hosts)}
        failed = status != "successful"
        return RunResult(
            scenario=scenario, ident=f"awx-job-{job_id}", status=status, rc=1 if failed else 0,
            artifact_dir=f"{self.url}/#/jobs/playbook/{job_id}/output", started=str(job.get("started", "")),
            duration=float(job.get("elapsed") or time.monotonic() - t0), check=check, extravars={},
            inventory=None, limit=None, recap=recap, summary=summary, phases=[],
            failures=[str(job.get("job_explanation") or f"AWX job {job_id} {status}")] if failed else [])
