# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared documentation: an object in S3-compatible storage (AWS S3, MinIO, SeaweedFS)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  s3_bucket:
    description:
      - Bucket holding the object (the plan's offsite C($S3_BUCKET)). Required with O(s3_object).
    type: str
  s3_object:
    description:
      - Key of the object, for example C(fleetpulse/db-backups/car_rental_backup_20260206_020000.sql.gz).
      - The object is streamed, never stored on the managed host.
    type: str
  s3_endpoint_url:
    description:
      - Endpoint of an S3-compatible service (MinIO, SeaweedFS, ...). Unset means AWS S3.
    type: str
  s3_region:
    description: Region of the bucket.
    type: str
    default: us-east-1
  s3_access_key:
    description:
      - Access key id. Unset means boto3's usual lookup (environment, shared files, instance role).
    type: str
  s3_secret_key:
    description: Secret access key for O(s3_access_key).
    type: str
requirements:
  - The S3 options need C(boto3) on the managed host.
"""
