# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared documentation: the app's object store and the offsite S3 store of the object mirror.

``fleetpulse.dr.object_mirror`` documents the bucket, the app's store and the transfer options;
``fleetpulse.dr.object_mirror.offsite`` the offsite store (also used by the offsite archive).
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  bucket:
    description:
      - The bucket in the app's object store (the plan's MinIO bucket C(fleetpulse)).
      - Its generations live offsite under O(offsite_prefix)C(/)O(bucket)C(/).
    type: str
    required: true
  store_endpoint_url:
    description:
      - S3 endpoint of the app's object store as this host reaches it, for example C(http://127.0.0.1:9000) for
        the MinIO container of the compose stack. Unset means AWS S3.
    type: str
  store_region:
    description: Region of the app's object store.
    type: str
    default: us-east-1
  store_access_key:
    description:
      - Access key of the app's object store (the plan's C($MINIO_ACCESS_KEY)).
      - Unset means boto3's usual lookup (environment, shared files, instance role).
    type: str
  store_secret_key:
    description: Secret key for O(store_access_key) (the plan's C($MINIO_SECRET_KEY)).
    type: str
  store_validate_certs:
    description: Verify the TLS certificate of an C(https) O(store_endpoint_url).
    type: bool
    default: true
  store_ca_bundle:
    description: CA bundle to verify the app's object store with, instead of the system's.
    type: path
  workers:
    description: Objects transferred or hashed in parallel (threads, each with one object in a bounded spool).
    type: int
    default: 8
  report_limit:
    description: At most this many keys in each list of the result (the counts are always complete).
    type: int
    default: 100
requirements:
  - boto3 (Debian C(python3-boto3)) on the host the module runs on.
notes:
  - The object mirror stores each distinct content once offsite, named by its SHA-256, and one manifest per
    generation; see C(docs/object-storage.md) for the layout and how to read it without this collection.
"""

    OFFSITE = r"""
options:
  offsite_endpoint_url:
    description: S3 endpoint of the offsite store. Unset means AWS S3.
    type: str
  offsite_region:
    description: Region of the offsite bucket.
    type: str
    default: us-east-1
  offsite_access_key:
    description:
      - Access key of the offsite store. Unset means boto3's usual lookup.
      - The mirror needs to list, read, write and delete under O(offsite_prefix) in O(offsite_bucket).
    type: str
  offsite_secret_key:
    description: Secret key for O(offsite_access_key).
    type: str
  offsite_validate_certs:
    description: Verify the TLS certificate of an C(https) O(offsite_endpoint_url).
    type: bool
    default: true
  offsite_ca_bundle:
    description: CA bundle to verify the offsite store with, instead of the system's.
    type: path
  offsite_bucket:
    description: The offsite bucket (the plan's C($S3_BUCKET)). It must exist.
    type: str
    required: true
  offsite_prefix:
    description: Key prefix in O(offsite_bucket) under which every mirrored bucket gets its own folder.
    type: str
    default: fleetpulse/minio-mirror
requirements:
  - boto3 (Debian C(python3-boto3)) on the host the module runs on.
"""
