"""FleetPulse replica: a stand-in for the FleetPulse api (Node/Prisma) used by the tests.

It reads the same environment as the real api (DATABASE_URL in Prisma's format,
REDIS_URL, the MINIO_* settings), serves /api/v1/health with the real state of its
dependencies, applies the Prisma migrations in prisma/migrations/ the way
`prisma migrate deploy` does, and generates deterministic data (rows and objects)
at a chosen scale. Runs on Debian 12's python3 with python3-psycopg (3.x),
python3-redis and python3-boto3, and from the controller's virtualenv.
"""

from __future__ import annotations

import os

__version__ = "1.4.2"


def app_version() -> str:
    """Version reported by the api: FLEETPULSE_VERSION (set per published image tag) or the package's."""
    return os.environ.get("FLEETPULSE_VERSION", __version__)
