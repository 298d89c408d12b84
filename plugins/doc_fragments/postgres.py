# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared documentation: how a module reaches the FleetPulse PostgreSQL database."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  database_url:
    description:
      - Connection URL in the form the app uses (Prisma's C(DATABASE_URL)),
        C(postgresql://USER:PASSWORD@HOST:PORT/DB?schema=public).
      - Percent-encoded user names and passwords are decoded; the C(schema) parameter sets O(schema)
        unless O(schema) is given; C(sslmode) and C(connect_timeout) are honoured.
      - Explicit O(login_host), O(login_port), O(login_user), O(login_password) and O(login_db) override
        the URL's parts.
      - Contains the password, so it is never logged.
    type: str
  login_host:
    description:
      - Host name or address of the PostgreSQL server.
      - Left unset inside a container (O(container), O(compose_service)), C(psql) uses the container's local socket.
    type: str
  login_port:
    description: Port of the PostgreSQL server (5432 when unset).
    type: int
  login_user:
    description:
      - Database user (the stack's C(POSTGRES_USER)).
    type: str
  login_password:
    description:
      - Password of O(login_user). Passed to the client in the C(PGPASSWORD) environment variable, never on a
        command line.
    type: str
  login_db:
    description: Database name (plan value C(fleetpulse)).
    type: str
  connect_timeout:
    description: Seconds to wait for the connection before failing.
    type: int
    default: 10
  ssl_mode:
    description: libpq C(sslmode) for direct connections.
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  container:
    description:
      - Run C(psql) inside this running container (name or id) with C(docker exec), so the managed host needs
        neither a Python driver nor a PostgreSQL client. The plan's container is C(postgres).
      - Mutually exclusive with O(compose_service).
    type: str
  compose_service:
    description:
      - Run C(psql) inside the running container of this Docker Compose service (plan value C(postgres)),
        found with C(docker compose ps -q) in O(compose_project_dir).
    type: str
  compose_project_dir:
    description: Directory of the Compose project (plan value C(/opt/fleetpulse)). Required with O(compose_service).
    type: path
  compose_files:
    description: Compose files relative to O(compose_project_dir) (plan value C(docker-compose.prod.yml)).
    type: list
    elements: str
    default: []
  compose_project_name:
    description: Compose project name, when it differs from the directory name (plan value C(carrental)).
    type: str
requirements:
  - Direct connections need C(psycopg) (3) or C(psycopg2) on the managed host, or else the C(psql) client.
  - O(container) and O(compose_service) need the Docker CLI (and Compose v2 for O(compose_service)) on the managed
    host, and C(psql) in the container (the official postgres image has it).
"""
