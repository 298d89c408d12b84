# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pick the DNS provider a module was asked for: the only place that knows all three."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fleetpulse.dr.plugins.module_utils.dns_common import (
    DNSProvider,
    DNSProviderError,
    MissingLibraryError,
    provider_params,
)


def provider_class(name: str) -> type[DNSProvider]:
    """The provider class, importing only its own module (boto3 takes a while to import)."""
    # Imports inside the function are still packaged with the module by Ansible.
    if name == "rfc2136":
        from ansible_collections.fleetpulse.dr.plugins.module_utils.dns_rfc2136 import (  # noqa: PLC0415
            RFC2136Provider,
        )

        return RFC2136Provider
    if name == "route53":
        from ansible_collections.fleetpulse.dr.plugins.module_utils.dns_route53 import (  # noqa: PLC0415
            Route53Provider,
        )

        return Route53Provider
    if name == "cloudflare":
        from ansible_collections.fleetpulse.dr.plugins.module_utils.dns_cloudflare import (  # noqa: PLC0415
            CloudflareProvider,
        )

        return CloudflareProvider
    raise DNSProviderError(f"unknown provider '{name}': use rfc2136, route53 or cloudflare")


def connect(module: AnsibleModule) -> DNSProvider:
    """The provider for the module's parameters, with access to the zone proven (fails the module otherwise)."""
    params: dict[str, Any] = module.params
    try:
        provider = provider_class(params["provider"])(provider_params(params))
        provider.check_access()
    except MissingLibraryError as exc:
        module.fail_json(msg=missing_required_lib(exc.library) + f" (needed by provider {params['provider']})",
                         exception=exc.error)
    except DNSProviderError as exc:
        module.fail_json(msg=f"{params['provider']}: {exc}")
    return provider
