# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Incident messages of the DR plan (section 4.2), their routing (4.1) and delivery.

Rendering and routing are pure functions; delivery talks to Slack incoming webhooks,
a generic JSON webhook and an SMTP server with the standard library only. Nothing
here raises on a delivery problem: every channel gets a result dict, so that a
notification never stops a recovery.
"""

from __future__ import annotations

import datetime
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from ansible.module_utils.urls import open_url

from ansible_collections.fleetpulse.dr.plugins.module_utils.dr_catalog import (
    CHANNEL_TYPES,
    EVENTS,
    REVIEW_WITHIN_HOURS,
    SEVERITIES,
    STAKEHOLDERS,
    STATUSES,
    format_duration,
    format_target,
    human_time,
    iso,
    parse_time,
    scenario_info,
)

SCHEMA = "fleetpulse.dr/incident-notification/v1"
HEADERS = {"declaration": "[INCIDENT]", "update": "[UPDATE]", "failure": "[UPDATE]", "resolution": "[RESOLVED]"}
SMTP_SECURITY = ("starttls", "tls", "none")


class NotifyInputError(ValueError):
    """An event that cannot be rendered (unknown event or severity)."""


# --------------------------------------------------------------------------- incident state


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def next_incident_state(event: str, params: dict[str, Any], previous: dict[str, Any] | None,
                        now: datetime.datetime) -> dict[str, Any]:
    """The incident as known after this event (what the role keeps in ``notify_incident``).

    A declaration starts a new incident (unless ``started_at`` names an earlier start);
    later events inherit severity, scenario, start time and commander from it, and
    their own parameters override.
    """
    if event not in EVENTS:
        raise NotifyInputError(f"unknown event {event!r}: use one of {', '.join(EVENTS)}")
    prev = dict(previous or {})
    if event == "declaration" or not prev.get("started_at"):
        prev = {}
    scenario = scenario_info(params.get("scenario") or prev.get("scenario"))
    severity = _text(params.get("severity")) or prev.get("severity") or (scenario or {}).get("severity") or "P1"
    if severity not in SEVERITIES:
        raise NotifyInputError(f"unknown severity {severity!r}: use P1, P2 or P3 (plan 4.1)")
    started = parse_time(params.get("started_at")) or parse_time(prev.get("started_at")) or now
    environment = _text(params.get("environment")) or prev.get("environment") or ""
    scenario_key = (scenario or {}).get("key") or _text(params.get("scenario")) or prev.get("scenario") or ""
    incident_id = prev.get("id") or "-".join(
        p for p in (environment, scenario_key or "incident", started.strftime("%Y%m%dT%H%M%SZ")) if p)
    rto = params.get("rto_minutes") or prev.get("rto_minutes") or (scenario or {}).get("rto_minutes")
    state = {
        "id": incident_id,
        "title": _text(params.get("title")) or prev.get("title") or (scenario or {}).get("title") or "Incident",
        "scenario": scenario_key,
        "section": (scenario or {}).get("section") or prev.get("section") or "",
        "severity": severity,
        "environment": environment,
        "started_at": iso(started),
        "commander": _text(params.get("commander")) or prev.get("commander") or "",
        "impact": _text(params.get("impact")) or prev.get("impact") or "",
        "rto_minutes": rto,
        "drill": bool(params.get("drill")) or bool(prev.get("drill")),
        "status": prev.get("status") or "Investigating",
        "root_cause": prev.get("root_cause") or "",
        "resolved_at": prev.get("resolved_at"),
        "events": list(prev.get("events") or []),
    }
    if event == "declaration":
        state["status"] = "Investigating"
    elif event == "update":
        state["status"] = _text(params.get("status")) or "Identified"
    elif event == "failure":
        state["status"] = _text(params.get("status")) or "Investigating"
    else:
        state["status"] = "Resolved"
        state["resolved_at"] = iso(now)
        state["root_cause"] = _text(params.get("root_cause")) or state["root_cause"]
    if state["status"] not in STATUSES:
        raise NotifyInputError(f"unknown status {state['status']!r}: use one of {', '.join(STATUSES)} (plan 4.2)")
    return state


# --------------------------------------------------------------------------- rendering


def _header(event: str, state: dict[str, Any], product: str) -> str:
    env = state.get("environment") or ""
    name = product if env in ("", "production") else f"{product} ({env})"
    head = f"{HEADERS[event]} {name} - {state['severity']}"
    return f"[DRILL] {head}" if state.get("drill") else head


def _next_update(state: dict[str, Any], params: dict[str, Any], now: datetime.datetime) -> str:
    if _text(params.get("next_update")):
        return _text(params["next_update"])
    cadence = SEVERITIES[state["severity"]]["update_cadence_minutes"]
    if not cadence:
        return "As resolved"
    return human_time(now + datetime.timedelta(minutes=cadence))


def _eta(state: dict[str, Any], params: dict[str, Any]) -> str:
    if _text(params.get("eta")):
        return _text(params["eta"])
    rto = state.get("rto_minutes")
    start = parse_time(state.get("started_at"))
    if rto and start:
        section = f"plan {state['section']} " if state.get("section") else ""
        due = start + datetime.timedelta(minutes=float(rto))
        return f"{human_time(due)} ({section}RTO {format_target(float(rto))})"
    return "Unknown"


def render(event: str, state: dict[str, Any], params: dict[str, Any], now: datetime.datetime,
           product: str = "FleetPulse") -> dict[str, Any]:
    """The plan's 4.2 message for ``event``: ``{header, subject, text, fields}``.

    ``fields`` are the template's lines in order (label -> value); ``text`` is the
    message exactly as the plan lays it out.
    """
    severity = state["severity"]
    impact = state.get("impact") or SEVERITIES[severity]["impact"]
    started = parse_time(state.get("started_at")) or now
    fields: dict[str, str]
    if event == "declaration":
        fields = {
            "Status": "Investigating",
            "Impact": impact,
            "Start Time": human_time(started),
            "Incident Commander": state.get("commander") or "On-call engineer",
            "Next Update": _next_update(state, params, now),
        }
    elif event in ("update", "failure"):
        summary = _text(params.get("summary"))
        if event == "failure":
            where = f" (plan {state['section']})" if state.get("section") else ""
            summary = (f"Automated recovery FAILED after {format_duration((now - started).total_seconds())}: "
                       f"{summary or 'see the run log'}. Manual recovery per the runbook{where} is needed.")
        fields = {
            "Status": state["status"],
            "Summary": summary or "No change since the last update",
            "ETA to Resolution": "Unknown" if event == "failure" and not _text(params.get("eta"))
            else _eta(state, params),
            "Next Update": _next_update(state, params, now),
        }
    elif event == "resolution":
        review = _text(params.get("review_date")) or (
            now + datetime.timedelta(hours=int(params.get("review_within_hours") or REVIEW_WITHIN_HOURS))
        ).strftime("%Y-%m-%d")
        fields = {
            "Duration": format_duration((now - started).total_seconds()),
            "Root Cause": state.get("root_cause") or "To be determined in the post-incident review",
            "Impact": impact,
            "Follow-up": f"Post-incident review scheduled for {review}",
        }
    else:
        raise NotifyInputError(f"unknown event {event!r}: use one of {', '.join(EVENTS)}")
    header = _header(event, state, product)
    text = "\n".join([header, *(f"{label}: {value}" for label, value in fields.items())])
    return {"header": header, "subject": f"{header}: {state.get('title') or 'Incident'}", "text": text,
            "fields": fields}


def stakeholder_deadlines(severity: str, started_at: str | None) -> list[dict[str, Any]]:
    """Plan 4.3: who must be told for this severity, how, and by when (UTC)."""
    start = parse_time(started_at)
    out = []
    for who in STAKEHOLDERS:
        minutes = who["after_minutes"].get(severity)
        if minutes is None or start is None:
            continue
        due = start + datetime.timedelta(minutes=minutes)
        out.append({"role": who["role"], "how": who["how"], "due_at": iso(due),
                    "due": "immediately" if minutes == 0 else human_time(due)})
    return out


# --------------------------------------------------------------------------- routing


def normalise_channels(channels: list[Any] | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Validate channel definitions; returns (usable channels, results for broken ones)."""
    good: list[dict[str, Any]] = []
    broken: list[dict[str, Any]] = []
    for index, raw in enumerate(channels or [], start=1):
        if not isinstance(raw, dict):
            broken.append({"name": f"channel{index}", "type": "?", "status": "failed",
                           "error": "misconfigured: each entry of notify_channels must be a mapping"})
            continue
        ctype = _text(raw.get("type")).lower()
        name = _text(raw.get("name")) or f"{ctype or 'channel'}{index}"
        problem = ""
        if ctype not in CHANNEL_TYPES:
            problem = f"type must be one of {', '.join(CHANNEL_TYPES)}, got {ctype or 'nothing'!r}"
        elif ctype in ("slack", "webhook") and not _text(raw.get("url")).lower().startswith(("http://", "https://")):
            problem = "url must be an http(s) URL"
        elif ctype == "email" and not _as_list(raw.get("to")):
            problem = "to must list at least one address"
        severities = _as_list(raw.get("severities")) or [
            sev for sev, info in SEVERITIES.items() if ctype in info["channels"]]
        events = _as_list(raw.get("events")) or list(EVENTS)
        bad_sev = [s for s in severities if s not in SEVERITIES]
        bad_ev = [e for e in events if e not in EVENTS]
        if not problem and bad_sev:
            problem = f"unknown severities {bad_sev} (use P1, P2, P3)"
        if not problem and bad_ev:
            problem = f"unknown events {bad_ev} (use {', '.join(EVENTS)})"
        if problem:
            broken.append({"name": name, "type": ctype or "?", "status": "failed",
                           "error": f"misconfigured: {problem}"})
            continue
        good.append(dict(raw, name=name, type=ctype, severities=severities, events=events,
                         enabled=raw.get("enabled", True) not in (False, "false", "no", 0)))
    return good, broken


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def route(channels: list[dict[str, Any]], severity: str,
          event: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split channels into (selected, skipped results) for this severity and event."""
    selected, skipped = [], []
    for ch in channels:
        reason = ""
        if not ch["enabled"]:
            reason = "disabled"
        elif severity not in ch["severities"]:
            reason = f"not routed for {severity} (severities: {', '.join(ch['severities'])})"
        elif event not in ch["events"]:
            reason = f"not routed for {event} events"
        if reason:
            skipped.append({"name": ch["name"], "type": ch["type"], "status": "skipped", "reason": reason})
        else:
            selected.append(ch)
    return selected, skipped


# --------------------------------------------------------------------------- payloads


def slack_payload(message: dict[str, Any], channel: dict[str, Any]) -> dict[str, Any]:
    """Slack incoming-webhook body: the plan's text, header in bold, as Slack mrkdwn."""
    lines = message["text"].split("\n")
    payload: dict[str, Any] = {"text": "\n".join([f"*{lines[0]}*", *lines[1:]])}
    for key in ("channel", "username", "icon_emoji"):
        if _text(channel.get(key)):
            payload[key] = _text(channel[key])
    return payload


def webhook_payload(event: str, state: dict[str, Any], message: dict[str, Any],
                    now: datetime.datetime) -> dict[str, Any]:
    """The generic JSON webhook body (schema documented in docs/notifications.md)."""
    incident = {k: v for k, v in state.items() if k != "events"}
    return {
        "schema": SCHEMA,
        "event": event,
        "severity": state["severity"],
        "status": state["status"],
        "sent_at": iso(now),
        "incident": incident,
        "header": message["header"],
        "subject": message["subject"],
        "fields": message["fields"],
        "text": message["text"],
    }


def email_message(event: str, state: dict[str, Any], message: dict[str, Any], *, sender: str,
                  recipients: list[str], now: datetime.datetime) -> EmailMessage:
    """A plain-text mail; updates and the resolution thread under the declaration."""
    msg = EmailMessage()
    msg["Subject"] = message["subject"]
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(now.timestamp(), usegmt=True)
    root = f"<{state['id']}@fleetpulse.dr>"
    if event == "declaration":
        msg["Message-ID"] = root
    else:
        msg["Message-ID"] = make_msgid(idstring=f"{state['id']}.{event}", domain="fleetpulse.dr")
        msg["In-Reply-To"] = root
        msg["References"] = root
    msg["X-FleetPulse-Incident"] = state["id"]
    msg["X-FleetPulse-Event"] = event
    msg["X-FleetPulse-Severity"] = state["severity"]
    msg.set_content(message["text"] + "\n")
    return msg


# --------------------------------------------------------------------------- delivery


def redact_url(url: str) -> str:
    """Scheme, host and port only: webhook paths carry tokens."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def _ssl_context(validate_certs: bool, ca_file: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file or None)
    if not validate_certs:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _retrying(send: Any, retries: int, delay: float) -> dict[str, Any]:
    """Run ``send`` until it succeeds or a permanent error; ``send`` returns a result dict."""
    attempts = 0
    while True:
        attempts += 1
        res = send()
        res["attempts"] = attempts
        if res["status"] == "sent" or not res.pop("transient", False) or attempts > retries:
            res.pop("transient", None)
            return res
        time.sleep(delay * attempts)


def post_json(url: str, payload: dict[str, Any], headers: dict[str, str] | None, *, timeout: float,
              validate_certs: bool = True, ca_file: str | None = None) -> dict[str, Any]:
    """POST JSON once; the result says sent/failed, with the HTTP status, never the URL's secret path."""
    if not url.lower().startswith(("http://", "https://")):
        return {"status": "failed", "error": "misconfigured: url must be an http(s) URL"}
    try:
        resp = open_url(url, data=json.dumps(payload).encode(), method="POST", timeout=timeout,
                        validate_certs=validate_certs, ca_path=ca_file or None, follow_redirects="none",
                        http_agent="fleetpulse.dr-incident-notify/1",
                        headers={"Content-Type": "application/json", **(headers or {})})
        with resp:
            text = resp.read(512).decode(errors="replace").strip()
            return {"status": "sent", "http_status": resp.status, "response": text[:200]}
    except urllib.error.HTTPError as exc:
        text = exc.read(512).decode(errors="replace").strip() if exc.fp else ""
        return {"status": "failed", "http_status": exc.code, "transient": exc.code >= 500 or exc.code == 429,
                "error": f"HTTP {exc.code} {exc.reason}" + (f": {text[:200]}" if text else "")}
    except urllib.error.URLError as exc:
        reason = exc.reason if not isinstance(exc.reason, TimeoutError) else f"no answer within {timeout:g}s"
        return {"status": "failed", "transient": True, "error": f"unreachable: {reason}"}
    except TimeoutError:
        return {"status": "failed", "transient": True, "error": f"no answer within {timeout:g}s"}
    except (OSError, ValueError, ConnectionError) as exc:
        return {"status": "failed", "transient": True, "error": f"{type(exc).__name__}: {exc}"}


def _smtp_settings(smtp: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Checked SMTP settings, or an error saying what is wrong with them."""
    security = _text(smtp.get("security")) or "starttls"
    settings = {
        "host": _text(smtp.get("host")),
        "security": security,
        "port": int(smtp.get("port") or {"tls": 465, "starttls": 587}.get(security, 25)),
        "username": _text(smtp.get("username")),
        "password": str(smtp.get("password") or ""),
        "context": _ssl_context(bool(smtp.get("validate_certs", True)), _text(smtp.get("ca_file")) or None),
    }
    if not settings["host"]:
        return settings, "misconfigured: no SMTP host (set notify_smtp_host)"
    if security not in SMTP_SECURITY:
        return settings, f"misconfigured: notify_smtp_security must be one of {', '.join(SMTP_SECURITY)}"
    if settings["username"] and security == "none":
        return settings, "refusing to send SMTP credentials without TLS (set notify_smtp_security to starttls or tls)"
    return settings, ""


def _smtp_session(cfg: dict[str, Any], timeout: float) -> smtplib.SMTP:
    """Connected, encrypted (unless security none) and authenticated (when a user is set) SMTP session."""
    if cfg["security"] == "tls":
        server: smtplib.SMTP = smtplib.SMTP_SSL(cfg["host"], cfg["port"], timeout=timeout, context=cfg["context"])
    else:
        server = smtplib.SMTP(cfg["host"], cfg["port"], timeout=timeout)
    try:
        server.ehlo()
        if cfg["security"] == "starttls":
            if not server.has_extn("starttls"):
                raise smtplib.SMTPNotSupportedError("the SMTP server does not offer STARTTLS "
                                                    "(refusing to send in clear text)")
            server.starttls(context=cfg["context"])
            server.ehlo()
        if cfg["username"]:
            server.login(cfg["username"], cfg["password"])
    except BaseException:
        server.close()
        raise
    return server


def send_email(smtp: dict[str, Any], msg: EmailMessage, timeout: float) -> dict[str, Any]:
    """Deliver one mail through the configured SMTP server (STARTTLS by default, AUTH when a user is set)."""
    cfg, problem = _smtp_settings(smtp)
    if problem:
        return {"status": "failed", "error": problem}
    res: dict[str, Any] = {"status": "failed", "target": f"{cfg['host']}:{cfg['port']}"}
    recipients = [a.strip() for a in str(msg["To"]).split(",") if a.strip()]
    try:
        server = _smtp_session(cfg, timeout)
        try:
            refused = server.send_message(msg)
        finally:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                server.close()
        res["recipients"] = len(recipients) - len(refused)
        if refused:
            res["error"] = f"recipients refused: {sorted(refused)}"
        else:
            res["status"] = "sent"
    except smtplib.SMTPAuthenticationError as exc:
        res["error"] = f"SMTP authentication failed ({exc.smtp_code}): check notify_smtp_username/password"
    except smtplib.SMTPResponseException as exc:
        res["transient"] = 400 <= exc.smtp_code < 500
        res["error"] = f"SMTP error {exc.smtp_code}: {exc.smtp_error.decode(errors='replace')[:200]}"
    except smtplib.SMTPRecipientsRefused as exc:
        res["error"] = f"all recipients refused: {sorted(exc.recipients)}"
    except smtplib.SMTPNotSupportedError as exc:
        res["error"] = str(exc)
    except ssl.SSLError as exc:
        res["error"] = f"TLS failed: {exc.reason or exc}"
    except TimeoutError:
        res.update(transient=True, error=f"no answer within {timeout:g}s")
    except (smtplib.SMTPException, OSError) as exc:
        res.update(transient=True, error=f"unreachable: {exc}")
    return res


def deliver(channel: dict[str, Any], event: str, state: dict[str, Any], message: dict[str, Any], *,
            smtp: dict[str, Any], now: datetime.datetime, timeout: float, retries: int,
            retry_delay: float = 1.0) -> dict[str, Any]:
    """Send to one channel with retries on transient errors; returns the channel's result."""
    ctype = channel["type"]
    base: dict[str, Any] = {"name": channel["name"], "type": ctype}
    validate = channel.get("validate_certs", smtp.get("validate_certs", True)) not in (False, "false", "no", 0)
    tls = {"timeout": timeout, "validate_certs": validate, "ca_file": channel.get("ca_file") or smtp.get("ca_file")}
    if ctype in ("slack", "webhook"):
        base["target"] = redact_url(channel["url"])
        if ctype == "slack":
            payload, headers = slack_payload(message, channel), {}
        else:
            payload = webhook_payload(event, state, message, now)
            headers = {str(k): str(v) for k, v in (channel.get("headers") or {}).items()}
        res = _retrying(lambda: post_json(channel["url"], payload, headers, **tls), retries, retry_delay)
    else:
        recipients = _as_list(channel.get("to"))
        sender = _text(channel.get("from")) or _text(smtp.get("from")) or "fleetpulse-dr@localhost"
        mail = email_message(event, state, message, sender=sender, recipients=recipients, now=now)
        res = _retrying(lambda: send_email(smtp, mail, timeout), retries, retry_delay)
        res.setdefault("recipients", 0)
    return {**base, **res}
