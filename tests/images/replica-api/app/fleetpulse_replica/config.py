"""Connection settings, read from the environment the real api gets (or from CLI flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters of a Prisma DATABASE_URL that libpq does not know.
PRISMA_ONLY_PARAMS = {"schema", "connection_limit", "pool_timeout", "pgbouncer", "statement_cache_size",
                      "socket_timeout", "sslaccept", "sslidentity", "sslpassword"}
DEFAULT_MIGRATIONS = Path(os.environ.get("FLEETPULSE_MIGRATIONS_DIR",
                                         Path(__file__).resolve().parent.parent / "prisma" / "migrations"))


class ConfigError(Exception):
    """A missing or malformed setting; the message names the variable to fix."""


@dataclass(frozen=True)
class Database:
    url: str  # libpq URL (Prisma-only parameters removed)
    schema: str
    display: str  # for messages: host:port/db, no credentials

    @classmethod
    def from_url(cls, url: str | None) -> Database:
        if not url:
            raise ConfigError("DATABASE_URL is not set (postgresql://USER:PASSWORD@HOST:5432/DB?schema=public)")
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ConfigError(f"DATABASE_URL must start with postgresql:// (got {parts.scheme or 'nothing'}://)")
        query = dict(parse_qsl(parts.query))
        schema = query.get("schema", "public")
        kept = {k: v for k, v in query.items() if k not in PRISMA_ONLY_PARAMS}
        kept.setdefault("connect_timeout", "5")
        libpq = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), ""))
        host = parts.hostname or "localhost"
        display = f"{host}:{parts.port or 5432}{parts.path}"
        return cls(url=libpq, schema=schema, display=display)

    def connect(self, autocommit: bool = True):
        import psycopg  # noqa: PLC0415 - the server only needs it when a request comes

        conn = psycopg.connect(self.url, autocommit=autocommit, options=f"-c search_path={self.schema}")
        conn.execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'")
        return conn


@dataclass(frozen=True)
class Storage:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    region: str = "us-east-1"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, endpoint: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None,
                 bucket: str | None = None) -> Storage:
        """MinIO settings as the api reads them (MINIO_ENDPOINT, MINIO_PORT, MINIO_USE_SSL, ...)."""
        env = os.environ if env is None else env
        if endpoint is None:
            host = env.get("MINIO_ENDPOINT", "minio")
            if host.startswith(("http://", "https://")):
                endpoint = host
            else:
                scheme = "https" if env.get("MINIO_USE_SSL", "false").lower() == "true" else "http"
                endpoint = f"{scheme}://{host}:{env.get('MINIO_PORT', '9000')}"
        access_key = access_key or env.get("MINIO_ACCESS_KEY") or env.get("MINIO_ROOT_USER")
        secret_key = secret_key or env.get("MINIO_SECRET_KEY") or env.get("MINIO_ROOT_PASSWORD")
        if not access_key or not secret_key:
            raise ConfigError("MINIO_ACCESS_KEY and MINIO_SECRET_KEY must be set (object storage credentials)")
        return cls(endpoint=endpoint, access_key=access_key, secret_key=secret_key,
                   bucket=bucket or env.get("MINIO_BUCKET", "fleetpulse"),
                   region=env.get("MINIO_REGION", "us-east-1"))

    def client(self, timeout: float = 10.0, retries: int = 3):
        import boto3  # noqa: PLC0415
        from botocore.config import Config  # noqa: PLC0415

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": retries},
                          s3={"addressing_style": "path"}, max_pool_connections=32),
        )
