# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS Route53 through boto3.

Simple (non-alias, no routing policy) A/AAAA record sets. Writes are UPSERT or an
exact DELETE of what was read, and wait until Route53 reports the change INSYNC
(propagated to all its authoritative servers) or the timeout passes.
"""

from __future__ import annotations

import time
import traceback
from typing import Any

from ansible_collections.fleetpulse.dr.plugins.module_utils.dns_common import (
    DNSProvider,
    DNSProviderError,
    MissingLibraryError,
    ProviderParams,
    RRSet,
    normalize_name,
    normalize_values,
)

try:
    import boto3
    import botocore.config
    import botocore.exceptions
except ImportError:
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None

_AUTH_CODES = {"InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException", "AccessDenied",
               "AccessDeniedException", "ExpiredToken", "InvalidAccessKeyId", "IncompleteSignature"}


def _decode_name(name: str) -> str:
    """Route53 returns names with a trailing dot and octal escapes (\\052 for *)."""
    return normalize_name(name.replace("\\052", "*"))


class Route53Provider(DNSProvider):
    name = "route53"

    def __init__(self, params: ProviderParams) -> None:
        super().__init__(params)
        if not HAS_BOTO3:
            raise MissingLibraryError("boto3", BOTO3_IMPORT_ERROR)
        verify: Any = params.get("ca_path") or True
        if not params.get("validate_certs", True):
            verify = False
        config = botocore.config.Config(connect_timeout=params.timeout, read_timeout=params.timeout,
                                        retries={"max_attempts": 3, "mode": "standard"})
        self.client = boto3.client(
            "route53",
            aws_access_key_id=params.get("aws_access_key_id"),
            aws_secret_access_key=params.get("aws_secret_access_key"),
            aws_session_token=params.get("aws_session_token"),
            region_name=params.get("aws_region", "us-east-1"),
            endpoint_url=params.get("aws_endpoint_url"),
            verify=verify,
            config=config,
        )
        self.zone_id: str | None = params.get("hosted_zone_id")
        self.wait_timeout = max(int(params.timeout) * 30, 60)

    # ------------------------------------------------------------------ helpers
    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self.client, operation)(**kwargs)
        except botocore.exceptions.NoCredentialsError as exc:
            raise DNSProviderError("no AWS credentials found: set aws_access_key_id and aws_secret_access_key "
                                   "(or the AWS environment / instance profile); nothing was changed") from exc
        except botocore.exceptions.EndpointConnectionError as exc:
            raise DNSProviderError(f"cannot reach the Route53 API: {exc}") from exc
        except botocore.exceptions.ClientError as exc:
            code, message = _client_error(exc)
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _AUTH_CODES or status in (401, 403):
                raise DNSProviderError(
                    f"AWS rejected the credentials for Route53 {operation} ({code or 'HTTP ' + str(status)}: "
                    f"{message}): check the access key, the secret key and that the IAM policy allows "
                    "route53:ListHostedZonesByName, ListResourceRecordSets, ChangeResourceRecordSets and GetChange; "
                    "nothing was changed") from exc
            raise DNSProviderError(f"Route53 {operation} failed ({code}: {message})") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise DNSProviderError(f"Route53 {operation} failed: {exc}") from exc

    def _zone(self) -> str:
        if not self.zone_id:
            self.check_access()
        return str(self.zone_id)

    # ------------------------------------------------------------------ provider API
    def check_access(self) -> None:
        if self.zone_id:
            zone = self._call("get_hosted_zone", Id=self.zone_id)["HostedZone"]
            if _decode_name(zone["Name"]) != self.zone:
                raise DNSProviderError(f"hosted zone {self.zone_id} is '{_decode_name(zone['Name'])}', "
                                       f"not '{self.zone}': fix hosted_zone_id or zone")
            return
        found = self._call("list_hosted_zones_by_name", DNSName=self.zone, MaxItems="100")["HostedZones"]
        matches = [z for z in found if _decode_name(z["Name"]) == self.zone]
        public = [z for z in matches if not z.get("Config", {}).get("PrivateZone")]
        if not matches:
            raise DNSProviderError(f"no Route53 hosted zone named '{self.zone}' is visible to these credentials")
        if len(public) > 1 or (not public and len(matches) > 1):
            ids = ", ".join(z["Id"].rsplit("/", 1)[-1] for z in matches)
            raise DNSProviderError(f"several Route53 hosted zones are named '{self.zone}' ({ids}): "
                                   "give the one to change as hosted_zone_id")
        self.zone_id = (public or matches)[0]["Id"].rsplit("/", 1)[-1]

    def read(self, fqdn: str, rtype: str) -> RRSet | None:
        result = self._call("list_resource_record_sets", HostedZoneId=self._zone(), StartRecordName=fqdn,
                            StartRecordType=rtype, MaxItems="1")
        for rrset in result.get("ResourceRecordSets", []):
            if _decode_name(rrset["Name"]) != fqdn or rrset["Type"] != rtype:
                continue
            if "AliasTarget" in rrset:
                raise DNSProviderError(f"{fqdn} {rtype} is a Route53 alias record; only plain records are managed")
            if "SetIdentifier" in rrset:
                raise DNSProviderError(f"{fqdn} {rtype} uses a Route53 routing policy "
                                       f"(set {rrset['SetIdentifier']}); only simple routing is managed")
            values = normalize_values(rtype, [rr["Value"] for rr in rrset.get("ResourceRecords", [])])
            return RRSet(values=values, ttl=int(rrset["TTL"]))
        return None

    def write(self, fqdn: str, rtype: str, before: RRSet | None, after: RRSet | None) -> None:
        if after is None:
            if before is None:
                return
            action, rrset = "DELETE", before
        else:
            action, rrset = "UPSERT", after
        change = {
            "Action": action,
            "ResourceRecordSet": {
                "Name": fqdn + ".",
                "Type": rtype,
                "TTL": rrset.ttl,
                "ResourceRecords": [{"Value": v} for v in rrset.values],
            },
        }
        result = self._call("change_resource_record_sets", HostedZoneId=self._zone(),
                            ChangeBatch={"Comment": "fleetpulse.dr.dns_record", "Changes": [change]})
        self._wait_insync(result["ChangeInfo"])

    def _wait_insync(self, info: dict[str, Any]) -> None:
        deadline = time.monotonic() + self.wait_timeout
        while info.get("Status") != "INSYNC":
            if time.monotonic() > deadline:
                raise DNSProviderError(f"Route53 accepted change {info.get('Id')} but it was not INSYNC after "
                                       f"{self.wait_timeout}s; it will still be applied, check it in the console")
            time.sleep(2)
            info = self._call("get_change", Id=info["Id"])["ChangeInfo"]


def _client_error(exc: Exception) -> tuple[str, str]:
    response: dict[str, Any] = getattr(exc, "response", {}) or {}
    error = response.get("Error") or {}
    code, message = error.get("Code", ""), error.get("Message", "")
    if not code:
        # Some endpoints (moto among them) wrap the error in Errors/Error.
        nested = (response.get("Errors") or {}).get("Error") or {}
        code, message = nested.get("Code", ""), nested.get("Message", "")
    return code, message or str(exc)
