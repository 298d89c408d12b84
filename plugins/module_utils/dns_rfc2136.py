# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RFC 2136 dynamic DNS update with TSIG (BIND, PowerDNS, Knot, Windows DNS, ...).

Reads go to the primary server as TSIG-signed queries over TCP, so a wrong key is
reported before any update is sent. Updates carry an RFC 2136 prerequisite that the
RRset is still what was read: a record changed by someone else in between makes the
server refuse the update (NXRRSET/YXRRSET) instead of being overwritten blindly.
"""

from __future__ import annotations

import binascii
import traceback

from ansible_collections.fleetpulse.dr.plugins.module_utils.dns_common import (
    DNSProvider,
    DNSProviderError,
    MissingLibraryError,
    ProviderParams,
    RRSet,
    normalize_values,
)

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdataclass
    import dns.rdataset
    import dns.rdatatype
    import dns.tsig
    import dns.tsigkeyring
    import dns.update
except ImportError:
    HAS_DNSPYTHON = False
    DNSPYTHON_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_DNSPYTHON = True
    DNSPYTHON_IMPORT_ERROR = None

_UPDATE_RCODE_HINTS = {
    "REFUSED": "the server's update-policy / allow-update does not let this key change the record; "
               "grant the key the name (BIND: update-policy { grant KEY zonesub ANY; })",
    "NOTAUTH": "the server is not the primary of the zone or does not accept the key; "
               "send updates to the primary server (the SOA MNAME)",
    "NXRRSET": "the record changed on the server after it was read (another update at the same time); run again",
    "YXRRSET": "the record appeared on the server after it was read (another update at the same time); run again",
    "NOTZONE": "the name is not inside the zone; check zone and record",
    "SERVFAIL": "the server failed to apply the update; see its log",
}


class RFC2136Provider(DNSProvider):
    name = "rfc2136"

    def __init__(self, params: ProviderParams) -> None:
        super().__init__(params)
        if not HAS_DNSPYTHON:
            raise MissingLibraryError("dnspython", DNSPYTHON_IMPORT_ERROR)
        self.server = params.get("server")
        self.port = int(params.get("port", 53))
        self.key_name = params.get("key_name")
        self.keyring = None
        self.algorithm = None
        if self.key_name:
            self.algorithm = dns.name.from_text(params.get("key_algorithm", "hmac-sha256"))
            try:
                self.keyring = dns.tsigkeyring.from_text({self.key_name: (self.algorithm, params.get("key_secret"))})
            except (binascii.Error, ValueError) as exc:
                raise DNSProviderError(f"the TSIG secret of key '{self.key_name}' is not valid base64 ({exc}); "
                                       "copy the secret from the server's key file (tsig-keygen output)") from exc
        self.origin = dns.name.from_text(self.zone)

    # ------------------------------------------------------------------ transport
    def _where(self) -> str:
        return f"{self.server} port {self.port}"

    def _exchange(self, message):
        try:
            return dns.query.tcp(message, self.server, port=self.port, timeout=self.params.timeout)
        except dns.tsig.PeerBadKey as exc:
            raise DNSProviderError(
                f"{self._where()} does not know TSIG key '{self.key_name}' (BADKEY): check the key name; "
                "nothing was changed") from exc
        except dns.tsig.PeerBadSignature as exc:
            raise DNSProviderError(
                f"{self._where()} rejected the signature of TSIG key '{self.key_name}' (BADSIG): the secret or the "
                "algorithm does not match the server's key; nothing was changed") from exc
        except dns.tsig.PeerBadTime as exc:
            raise DNSProviderError(
                f"{self._where()} rejected the TSIG time (BADTIME): the clocks of this machine and the server "
                "differ by more than 5 minutes; fix NTP; nothing was changed") from exc
        except dns.tsig.PeerError as exc:
            raise DNSProviderError(f"{self._where()} rejected TSIG key '{self.key_name}': {exc}") from exc
        except dns.exception.Timeout as exc:
            raise DNSProviderError(
                f"no answer from DNS server {self._where()} within {self.params.timeout}s: check the address "
                "and that TCP port 53 is open from here") from exc
        except OSError as exc:
            raise DNSProviderError(f"cannot reach DNS server {self._where()}: {exc}") from exc
        except dns.exception.DNSException as exc:
            raise DNSProviderError(f"DNS exchange with {self._where()} failed: {exc}") from exc

    def _query(self, fqdn: str, rtype: str):
        query = dns.message.make_query(fqdn, rtype)
        query.flags &= ~dns.flags.RD
        if self.keyring:
            query.use_tsig(self.keyring, keyname=self.key_name, algorithm=self.algorithm)
        return self._exchange(query)

    # ------------------------------------------------------------------ provider API
    def check_access(self) -> None:
        response = self._query(self.zone, "SOA")
        rcode = dns.rcode.to_text(response.rcode())
        soa = [rr for rr in response.answer if rr.rdtype == dns.rdatatype.SOA and rr.name == self.origin]
        if rcode != "NOERROR" or not soa or not response.flags & dns.flags.AA:
            raise DNSProviderError(
                f"{self._where()} is not authoritative for zone '{self.zone}' (answer {rcode}, "
                f"{'authoritative' if response.flags & dns.flags.AA else 'not authoritative'}): "
                "give the zone's primary server as server")

    def read(self, fqdn: str, rtype: str) -> RRSet | None:
        response = self._query(fqdn, rtype)
        rcode = dns.rcode.to_text(response.rcode())
        if rcode == "NXDOMAIN":
            return None
        if rcode != "NOERROR":
            raise DNSProviderError(f"{self._where()} answered {rcode} when asked for {fqdn} {rtype}")
        name = dns.name.from_text(fqdn)
        wanted = dns.rdatatype.from_text(rtype)
        for rrset in response.answer:
            if rrset.name == name and rrset.rdtype == dns.rdatatype.CNAME:
                raise DNSProviderError(f"{fqdn} is a CNAME; address records cannot live beside it")
            if rrset.name == name and rrset.rdtype == wanted:
                values = normalize_values(rtype, [rr.to_text() for rr in rrset])
                return RRSet(values=values, ttl=int(rrset.ttl))
        return None

    def write(self, fqdn: str, rtype: str, before: RRSet | None, after: RRSet | None) -> None:
        update = dns.update.UpdateMessage(self.origin, keyring=self.keyring, keyname=self.key_name,
                                          keyalgorithm=self.algorithm or dns.tsig.default_algorithm)
        name = dns.name.from_text(fqdn)
        # Prerequisite: the RRset is still exactly what we read (RFC 2136 2.4.2 / 2.4.3).
        if before is None:
            update.absent(name, rtype)
        else:
            current = dns.rdataset.from_text_list(dns.rdataclass.IN, rtype, 0, list(before.values))
            update.present(name, current)
        if after is None:
            update.delete(name, rtype)
        else:
            update.replace(name, after.ttl, rtype, *after.values)
        response = self._exchange(update)
        rcode = dns.rcode.to_text(response.rcode())
        if rcode != "NOERROR":
            hint = _UPDATE_RCODE_HINTS.get(rcode, "see the server's log")
            raise DNSProviderError(f"{self._where()} refused the update of {fqdn} {rtype} ({rcode}): {hint}")
