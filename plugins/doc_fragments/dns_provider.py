# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by the DNS modules (dns_record, dns_record_info)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  provider:
    description:
      - Where the zone is hosted.
      - V(rfc2136) sends TSIG-signed dynamic updates (RFC 2136) to the zone's primary server
        (BIND, PowerDNS, Knot, Windows DNS, ...).
      - V(route53) uses the AWS Route53 API through boto3.
      - V(cloudflare) uses the Cloudflare v4 API with an API token.
    type: str
    required: true
    choices: [rfc2136, route53, cloudflare]
  zone:
    description:
      - The DNS zone that holds the records, for example V(example.com).
    type: str
    required: true
  timeout:
    description:
      - Seconds to wait for each request to the server or API.
    type: int
    default: 10
  server:
    description:
      - V(rfc2136) only, required there. Address or name of the zone's primary server (the SOA MNAME).
    type: str
  port:
    description:
      - V(rfc2136) only. TCP port of O(server).
    type: int
    default: 53
  key_name:
    description:
      - V(rfc2136) only. Name of the TSIG key that signs queries and updates.
      - Without a key, queries and updates are unsigned (only servers that allow updates by address accept them).
    type: str
  key_secret:
    description:
      - V(rfc2136) only. Base64 secret of O(key_name), as in the server's key file (C(tsig-keygen) output).
      - Never logged.
    type: str
  key_algorithm:
    description:
      - V(rfc2136) only. HMAC algorithm of O(key_name).
    type: str
    default: hmac-sha256
    choices: [hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512]
  aws_access_key_id:
    description:
      - V(route53) only. Access key ID. Without it, boto3's usual chain (environment, shared
        config, instance profile) is used.
    type: str
  aws_secret_access_key:
    description:
      - V(route53) only. Secret access key of O(aws_access_key_id). Never logged.
    type: str
  aws_session_token:
    description:
      - V(route53) only. Session token for temporary credentials. Never logged.
    type: str
  aws_region:
    description:
      - V(route53) only. Region for the API client (Route53 is global; this only picks the endpoint).
    type: str
    default: us-east-1
  aws_endpoint_url:
    description:
      - V(route53) only. Another Route53 API endpoint (a test server, a VPC endpoint).
    type: str
  hosted_zone_id:
    description:
      - V(route53) only. ID of the hosted zone. Without it, the zone is found by name; give it when
        several hosted zones have the same name.
    type: str
  api_token:
    description:
      - V(cloudflare) only, required there. API token with Zone:DNS:Edit permission on the zone. Never logged.
    type: str
  api_url:
    description:
      - V(cloudflare) only. Base URL of the API.
    type: str
    default: https://api.cloudflare.com/client/v4
  zone_id:
    description:
      - V(cloudflare) only. ID of the zone. Without it, the zone is found by name.
    type: str
  validate_certs:
    description:
      - V(route53) and V(cloudflare). Verify the API's TLS certificate. Leave on outside tests.
    type: bool
    default: true
  ca_path:
    description:
      - V(route53) and V(cloudflare). CA bundle to verify the API's certificate with, instead of the system's.
    type: path
notes:
  - The credentials are checked (a signed query, a zone lookup) before anything is read or changed,
    so a wrong key or token fails with a message naming it and leaves the zone untouched.
requirements:
  - dnspython for O(provider=rfc2136).
  - boto3 for O(provider=route53).
"""
