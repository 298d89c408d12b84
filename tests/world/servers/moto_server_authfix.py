# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""moto_server with one fix to its IAM signature check, so Route53 GET requests can be authenticated.

moto 5.2.5 recomputes a request's SigV4 signature from ``body or data``; for a GET without
a body, ``data`` is the parsed query string (or the headers), so a correctly signed GET
(ListHostedZones, ListResourceRecordSets, GetChange, ...) fails with SignatureDoesNotMatch
as soon as authentication is on. A body-less request is signed over the empty payload;
this launcher recomputes it that way and otherwise runs moto_server unchanged:

    moto_server_authfix.py -H 0.0.0.0 -p 5000
"""

from __future__ import annotations

from moto.iam import access_control
from moto.server import main

_original = access_control.IAMRequestBase._create_aws_request


def _create_aws_request(self):  # type: ignore[no-untyped-def]
    if self._method in ("GET", "HEAD", "DELETE") and not self._body:
        saved, self._data = self._data, b""
        try:
            return _original(self)
        finally:
            self._data = saved
    return _original(self)


access_control.IAMRequestBase._create_aws_request = _create_aws_request

if __name__ == "__main__":
    main()
