# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the object mirror modules share: their common options (documented in the
``fleetpulse.dr.object_mirror`` doc fragment), the two endpoints built from them, and a
progress log an operator can follow with ``tail -f`` while a long run goes on."""

from __future__ import annotations

import os
from datetime import datetime

from ansible_collections.fleetpulse.dr.plugins.module_utils.object_mirror import Job, Layout
from ansible_collections.fleetpulse.dr.plugins.module_utils.object_store import UTC, Endpoint


def store_spec() -> dict:
    return {
        "store_endpoint_url": {"type": "str"},
        "store_region": {"type": "str", "default": "us-east-1"},
        "store_access_key": {"type": "str", "no_log": True},
        "store_secret_key": {"type": "str", "no_log": True},
        "store_validate_certs": {"type": "bool", "default": True},
        "store_ca_bundle": {"type": "path"},
    }


def offsite_spec() -> dict:
    return {
        "offsite_endpoint_url": {"type": "str"},
        "offsite_region": {"type": "str", "default": "us-east-1"},
        "offsite_access_key": {"type": "str", "no_log": True},
        "offsite_secret_key": {"type": "str", "no_log": True},
        "offsite_validate_certs": {"type": "bool", "default": True},
        "offsite_ca_bundle": {"type": "path"},
        "offsite_bucket": {"type": "str", "required": True},
        "offsite_prefix": {"type": "str", "default": "fleetpulse/minio-mirror"},
    }


def common_spec() -> dict:
    return {
        "bucket": {"type": "str", "required": True},
        **store_spec(),
        **offsite_spec(),
        "workers": {"type": "int", "default": 8},
        "report_limit": {"type": "int", "default": 100},
    }


def endpoint(params: dict, side: str, name: str) -> Endpoint:
    return Endpoint(
        name=name,
        endpoint_url=params.get(f"{side}_endpoint_url") or None,
        region=params.get(f"{side}_region") or None,
        access_key=params.get(f"{side}_access_key") or None,
        secret_key=params.get(f"{side}_secret_key") or None,
        validate_certs=params.get(f"{side}_validate_certs", True),
        ca_bundle=params.get(f"{side}_ca_bundle") or None,
    )


def endpoints(params: dict) -> tuple[Endpoint, Endpoint, Layout]:
    store = endpoint(params, "store", "app's object")
    offsite = endpoint(params, "offsite", "offsite")
    layout = Layout.for_source(params["offsite_bucket"], params["offsite_prefix"], params["bucket"])
    return store, offsite, layout


def job(params: dict, log_file: str | None = None) -> Job:
    """The bucket, both stores and the transfer settings from a module's parameters."""
    store, offsite, layout = endpoints(params)
    return Job(store=store, offsite=offsite, bucket=params["bucket"], layout=layout, workers=params["workers"],
               report_limit=params["report_limit"], tmp_dir=params.get("tmp_dir"), log=FileLog(log_file))


def validate(module, params: dict) -> None:
    """Refuse impossible settings before anything is contacted."""
    if params.get("workers", 1) < 1 or params.get("workers", 1) > 64:
        module.fail_json(msg=f"workers must be between 1 and 64, got {params['workers']}")
    if params.get("report_limit", 1) < 0:
        module.fail_json(msg="report_limit must not be negative")
    bucket = params.get("bucket") or ""
    if "/" in bucket or not bucket.strip():
        module.fail_json(msg=f"bucket must be a bucket name, got {bucket!r}")


class FileLog:
    """Progress lines appended to ``path`` (one per line, UTC time first); nothing when ``path`` is empty."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        if path:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)

    def __call__(self, message: str) -> None:
        if not self.path:
            return
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {message}\n")
