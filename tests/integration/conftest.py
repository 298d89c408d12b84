# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the integration tests (defined in the modules named here)."""

# Fixtures of the backup_verify/db_record_counts tests, made visible to pytest by importing them here.
from pg_world import backups, pg  # noqa: F401  # pylint: disable=unused-import
