# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""boto3 and botocore, imported once for every S3 client of this collection.

They are optional on managed hosts: ``s3``, ``object_store`` and ``offsite`` re-export
``HAS_BOTO3`` and ``BOTO3_IMPORT_ERROR`` from here, and their modules report
``missing_required_lib`` when the import failed. Without botocore, ``ClientError`` and
``BotoCoreError`` are plain stand-ins so that ``except`` clauses stay valid.
"""

from __future__ import annotations

import traceback

try:
    import boto3  # type: ignore[import-not-found]
    from boto3.s3.transfer import TransferConfig  # type: ignore[import-not-found]
    from botocore.config import Config  # type: ignore[import-not-found]
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-not-found]

    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the host
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = traceback.format_exc()
    boto3 = None
    TransferConfig = None
    Config = None

    class ClientError(Exception):  # type: ignore[no-redef]
        """Stand-in so ``except`` clauses stay valid without botocore."""

    class BotoCoreError(Exception):  # type: ignore[no-redef]
        """Stand-in so ``except`` clauses stay valid without botocore."""


__all__ = ["BOTO3_IMPORT_ERROR", "HAS_BOTO3", "BotoCoreError", "ClientError", "Config", "TransferConfig", "boto3"]
