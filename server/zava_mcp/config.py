"""Settings, read once from the environment (and from a .env file, by the CLI)."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DB_DIR = PROJECT_ROOT / "db"

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

LOCAL_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
LOCAL_DIMENSIONS = 384
OPENAI_MODEL = "text-embedding-3-small"
OPENAI_DIMENSIONS = 1536

EmbeddingProviderName = Literal["local", "openai", "azure"]
IdentityMode = Literal["keys", "header"]
Number = TypeVar("Number", int, float)


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message says which and why."""


@dataclass(frozen=True)
class EmbeddingSettings:
    """Which model embeds product descriptions and search texts.

    provider: local (sentence-transformers, offline), openai (OpenAI or any endpoint that
    speaks its embeddings API: Ollama, vLLM, TEI) or azure (Azure OpenAI).
    model: the model name (for azure, the deployment name); stored beside every vector.
    """

    provider: EmbeddingProviderName
    model: str
    dimensions: int
    api_key: str | None
    base_url: str | None
    azure_endpoint: str | None
    azure_api_version: str
    timeout_seconds: float
    max_retries: int
    batch_size: int
    cache_size: int


@dataclass(frozen=True)
class ServerSettings:
    """How `zava-mcp serve` listens and whom it lets in."""

    host: str
    port: int
    identity: IdentityMode
    database_url: str | None  # the login role's DSN; None: derived from the admin DSN
    public_url: str | None  # where clients reach the server; None: http://host:port
    stateless: bool
    time_budget_seconds: float
    max_rows: int
    pool_min_size: int  # the server's own pool (key checks, audit, health)
    pool_max_size: int
    principal_pool_max: int  # connections one process keeps for one principal's calls
    principal_calls_max: int  # one principal's calls in flight in one process
    connections_max: int  # connections one process keeps for all principals' calls
    read_urls: tuple[str, ...]  # hosts that serve tool calls (hot standbys); () = the primary
    allowed_hosts: tuple[str, ...]
    audit_queue_bytes: int = 64 * 1024 * 1024  # audit records waiting; calls refused past it
    http_read_timeout_seconds: float = 10.0  # a request's headers and body, from its first byte
    http_idle_timeout_seconds: float = 5.0  # a connection with no request in progress
    http_max_connections: int = 500  # a request beyond it is answered 503
    session_idle_timeout_seconds: float = 600.0  # an MCP session without requests is closed
    max_sessions: int = 1000  # MCP sessions one process keeps open
    key_cache_seconds: float = 5.0  # how long a checked API key is accepted without a lookup
    workers: int = 1  # server processes sharing the port (HTTP, stateless only)

    def worker_share(self) -> ServerSettings:
        """What one of `workers` processes may hold, so that all of them together keep to
        the limits configured for the server: connections, calls and memory divided between
        them (each keeps at least one)."""
        if self.workers == 1:
            return self
        share = {
            name: max(1, getattr(self, name) // self.workers)
            for name in (
                "pool_max_size",
                "principal_pool_max",
                "principal_calls_max",
                "connections_max",
                "http_max_connections",
                "max_sessions",
                "audit_queue_bytes",
            )
        }
        share["pool_min_size"] = min(self.pool_min_size, share["pool_max_size"])
        share["connections_max"] = max(share["connections_max"], share["principal_pool_max"])
        return replace(self, **share)


# Public-key algorithms only. Never "none", never HS*: a shared secret would let anyone who
# holds it mint tokens, and HS* "verified" with a public key is the classic confusion attack.
SUPPORTED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
ENV_PREFIX = "ZAVA_JWT_"


@dataclass(frozen=True)
class JwtSettings:
    """Which JWTs are accepted. Validated on construction (ConfigError)."""

    issuer: str  # the exact `iss`
    audience: str  # required in `aud`
    jwks_url: str | None  # fetched over HTTPS (HTTP only on loopback), cached
    jwks_file: str | None  # or a local JWKS JSON file; exactly one of url and file
    principal_claim: str = "oid"  # its value must be a principal's UUID (stores.rls_user_id)
    leeway_seconds: int = 60  # clock skew allowed for exp, nbf and iat
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    jwks_cache_seconds: float = 600.0  # refetch the JWKS when older than this
    jwks_refetch_seconds: float = 30.0  # but never fetch twice within this (unknown kid, errors)

    def __post_init__(self) -> None:
        if not self.issuer.strip():
            raise ConfigError("ZAVA_JWT_ISSUER must not be empty")
        if not self.audience.strip():
            raise ConfigError(
                "ZAVA_JWT_AUDIENCE is required with ZAVA_JWT_ISSUER: the audience tokens must "
                "be issued for (Entra ID: the API's application id or Application ID URI)"
            )
        if (self.jwks_url is None) == (self.jwks_file is None):
            raise ConfigError(
                "set exactly one of ZAVA_JWT_JWKS_URL and ZAVA_JWT_JWKS_FILE: where the "
                "issuer's signing keys come from"
            )
        if self.jwks_url is not None:
            _check_jwks_url(self.jwks_url)
        if not self.principal_claim.strip():
            raise ConfigError("ZAVA_JWT_PRINCIPAL_CLAIM must not be empty")
        if not 0 <= self.leeway_seconds <= 600:
            raise ConfigError(
                f"ZAVA_JWT_LEEWAY={self.leeway_seconds} must be between 0 and 600 seconds"
            )
        if not self.algorithms:
            raise ConfigError("ZAVA_JWT_ALGORITHMS must name at least one algorithm")
        for algorithm in self.algorithms:
            if algorithm.lower() == "none":
                raise ConfigError(
                    "ZAVA_JWT_ALGORITHMS: unsigned tokens (alg none) are never accepted"
                )
            if algorithm.upper().startswith("HS"):
                raise ConfigError(
                    f"ZAVA_JWT_ALGORITHMS: {algorithm} uses a shared secret and is not accepted; "
                    "use a public-key algorithm (RS256, ES256, ...)"
                )
            if algorithm not in SUPPORTED_ALGORITHMS:
                raise ConfigError(
                    f"ZAVA_JWT_ALGORITHMS: {algorithm!r} is not supported; choose from "
                    + ", ".join(sorted(SUPPORTED_ALGORITHMS))
                )
        if self.jwks_cache_seconds < 0 or self.jwks_refetch_seconds < 0:
            raise ConfigError("the JWKS cache times must not be negative")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> JwtSettings | None:
        """The settings from ZAVA_JWT_*; None when ZAVA_JWT_ISSUER is unset (JWTs off)."""
        values = {name: value.strip() for name, value in env.items() if name.startswith(ENV_PREFIX)}
        issuer = values.get("ZAVA_JWT_ISSUER")
        if not issuer:
            stray = sorted(name for name, value in values.items() if value)
            if stray:
                raise ConfigError(
                    f"{', '.join(stray)} set but ZAVA_JWT_ISSUER is not: set the issuer to "
                    "accept JWTs, or unset the others"
                )
            return None
        jwks_file = values.get("ZAVA_JWT_JWKS_FILE") or None
        if jwks_file is not None and not Path(jwks_file).is_file():
            raise ConfigError(f"ZAVA_JWT_JWKS_FILE={jwks_file!r} is not a readable file")
        raw_leeway = values.get("ZAVA_JWT_LEEWAY") or "60"
        try:
            leeway = int(raw_leeway)
        except ValueError:
            raise ConfigError(f"ZAVA_JWT_LEEWAY={raw_leeway!r} is not a whole number") from None
        algorithms = tuple(
            part.strip()
            for part in (values.get("ZAVA_JWT_ALGORITHMS") or "RS256,ES256").split(",")
            if part.strip()
        )
        return cls(
            issuer=issuer,
            audience=values.get("ZAVA_JWT_AUDIENCE") or "",
            jwks_url=values.get("ZAVA_JWT_JWKS_URL") or None,
            jwks_file=jwks_file,
            principal_claim=values.get("ZAVA_JWT_PRINCIPAL_CLAIM") or "oid",
            leeway_seconds=leeway,
            algorithms=algorithms,
        )


def _check_jwks_url(url: str) -> None:
    """HTTPS, or plain HTTP to this machine: whoever can alter the JWKS can mint tokens."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        if parts.hostname == "localhost":
            return
        try:
            if ipaddress.ip_address(parts.hostname).is_loopback:
                return
        except ValueError:
            pass
    raise ConfigError(
        f"ZAVA_JWT_JWKS_URL={url!r} must be an https:// URL (http:// only for localhost)"
    )


@dataclass(frozen=True)
class Settings:
    """Everything that varies between installations.

    database_url: an administrator DSN of an existing PostgreSQL (>= 16, with pgvector);
        None means the embedded one.
    data_dir: where the embedded PostgreSQL keeps its files.
    database_name: the database created inside the embedded PostgreSQL.
    owner_role, login_role, reader_role: the three roles db/roles.sql creates.
    principal_connection_limit: CONNECTION LIMIT of each principal's login role, a bound
        across every server process.
    """

    database_url: str | None
    data_dir: Path
    database_name: str
    owner_role: str
    login_role: str
    reader_role: str
    principal_connection_limit: int
    embeddings: EmbeddingSettings
    server: ServerSettings
    jwt: JwtSettings | None = None  # OIDC/JWT bearer tokens beside API keys (ZAVA_JWT_*)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        settings = cls(
            database_url=env.get("DATABASE_URL") or None,
            data_dir=Path(env.get("ZAVA_DATA_DIR") or PROJECT_ROOT / ".zava" / "pgdata").resolve(),
            database_name=env.get("ZAVA_DATABASE") or "zava",
            owner_role=env.get("ZAVA_OWNER_ROLE") or "zava_owner",
            login_role=env.get("ZAVA_LOGIN_ROLE") or "zava_server",
            reader_role=env.get("ZAVA_READER_ROLE") or "zava_reader",
            principal_connection_limit=_number(env, "ZAVA_PRINCIPAL_CONNECTION_LIMIT", 40, int),
            embeddings=_embedding_settings(env),
            server=_server_settings(env),
            jwt=JwtSettings.from_env(env),
        )
        settings.validate()
        return settings

    @property
    def embedding_dim(self) -> int:
        return self.embeddings.dimensions

    def validate(self) -> None:
        for variable, role in (
            ("ZAVA_OWNER_ROLE", self.owner_role),
            ("ZAVA_LOGIN_ROLE", self.login_role),
            ("ZAVA_READER_ROLE", self.reader_role),
        ):
            if not _ROLE_NAME.match(role):
                raise ConfigError(
                    f"{variable}={role!r} is not a plain role name "
                    "(lowercase letters, digits and _, at most 63)"
                )
        if len({self.owner_role, self.login_role, self.reader_role}) != 3:
            raise ConfigError("the owner, login and reader roles must be three different roles")
        if not 1 <= self.principal_connection_limit <= 10000:
            raise ConfigError(
                f"ZAVA_PRINCIPAL_CONNECTION_LIMIT={self.principal_connection_limit} must be "
                "between 1 and 10000"
            )
        if not _DATABASE_NAME.match(self.database_name):
            raise ConfigError(f"ZAVA_DATABASE={self.database_name!r} is not a plain database name")
        if not 1 <= self.embedding_dim <= 16000:
            raise ConfigError(
                f"ZAVA_EMBEDDING_DIM={self.embedding_dim} must be between 1 and 16000"
            )

    @property
    def template_values(self) -> dict[str, object]:
        """The only values db/ templates may use."""
        return {
            "owner": self.owner_role,
            "login": self.login_role,
            "reader": self.reader_role,
            "principal_connection_limit": self.principal_connection_limit,
            "embedding_dim": self.embedding_dim,
        }


def _embedding_settings(env: dict[str, str]) -> EmbeddingSettings:
    provider = env.get("ZAVA_EMBEDDINGS") or (
        "azure"
        if env.get("AZURE_OPENAI_ENDPOINT")
        else "openai"
        if env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL")
        else "local"
    )
    if provider not in ("local", "openai", "azure"):
        raise ConfigError(f"ZAVA_EMBEDDINGS={provider!r} must be local, openai or azure")
    if provider == "local":
        model, dimensions = LOCAL_MODEL, LOCAL_DIMENSIONS
    elif provider == "azure":
        model, dimensions = env.get("AZURE_OPENAI_DEPLOYMENT") or OPENAI_MODEL, OPENAI_DIMENSIONS
    else:
        model, dimensions = OPENAI_MODEL, OPENAI_DIMENSIONS
    api_key = env.get("AZURE_OPENAI_API_KEY") if provider == "azure" else env.get("OPENAI_API_KEY")
    if provider == "local" and (env.get("ZAVA_EMBEDDING_MODEL") or LOCAL_MODEL) != LOCAL_MODEL:
        raise ConfigError(
            f"ZAVA_EMBEDDING_MODEL={env['ZAVA_EMBEDDING_MODEL']!r}: the local provider has one "
            f"model, {LOCAL_MODEL}; set ZAVA_EMBEDDINGS=openai to use another"
        )
    return EmbeddingSettings(
        provider=provider,  # type: ignore[arg-type]
        model=env.get("ZAVA_EMBEDDING_MODEL") or model,
        dimensions=_number(env, "ZAVA_EMBEDDING_DIM", dimensions, int),
        api_key=api_key or None,
        base_url=env.get("OPENAI_BASE_URL") or None,
        azure_endpoint=env.get("AZURE_OPENAI_ENDPOINT") or None,
        azure_api_version=env.get("AZURE_OPENAI_API_VERSION") or "2024-10-21",
        timeout_seconds=_number(env, "ZAVA_EMBEDDING_TIMEOUT", 10.0, float),
        max_retries=_number(env, "ZAVA_EMBEDDING_RETRIES", 2, int),
        batch_size=_number(env, "ZAVA_EMBEDDING_BATCH", 64, int),
        cache_size=_number(env, "ZAVA_EMBEDDING_CACHE", 1024, int),
    )


# ServerSettings fields for HTTP and MCP sessions: (field, variable, default, kind).
HTTP_LIMITS: tuple[tuple[str, str, Any, type], ...] = (
    ("http_read_timeout_seconds", "ZAVA_HTTP_READ_TIMEOUT", 10.0, float),
    ("http_idle_timeout_seconds", "ZAVA_HTTP_IDLE_TIMEOUT", 5.0, float),
    ("http_max_connections", "ZAVA_HTTP_MAX_CONNECTIONS", 500, int),
    ("session_idle_timeout_seconds", "ZAVA_SESSION_IDLE_TIMEOUT", 600.0, float),
    ("max_sessions", "ZAVA_MAX_SESSIONS", 1000, int),
)


def _server_settings(env: dict[str, str]) -> ServerSettings:
    identity = env.get("ZAVA_IDENTITY") or "keys"
    if identity not in ("keys", "header"):
        raise ConfigError(f"ZAVA_IDENTITY={identity!r} must be keys or header")
    budget = _number(env, "ZAVA_TIME_BUDGET", 15.0, float)
    if not 0 < budget <= 3600:
        raise ConfigError(f"ZAVA_TIME_BUDGET={budget} must be above 0 and at most 3600 seconds")
    max_rows = _number(env, "ZAVA_MAX_ROWS", 1000, int)
    if not 1 <= max_rows <= 10000:
        raise ConfigError(f"ZAVA_MAX_ROWS={max_rows} must be between 1 and 10000")
    pool_min = _number(env, "ZAVA_POOL_MIN", 1, int)
    pool_max = _number(env, "ZAVA_POOL_MAX", 10, int)
    if not 0 <= pool_min <= pool_max or pool_max < 1:
        raise ConfigError(
            f"ZAVA_POOL_MIN={pool_min} and ZAVA_POOL_MAX={pool_max}: need 0 <= min <= max and max >= 1"
        )
    principal_pool_max = _number(env, "ZAVA_PRINCIPAL_POOL_MAX", 5, int)
    connections_max = _number(env, "ZAVA_CONNECTIONS_MAX", 50, int)
    if not 1 <= principal_pool_max <= connections_max:
        raise ConfigError(
            f"ZAVA_PRINCIPAL_POOL_MAX={principal_pool_max} and ZAVA_CONNECTIONS_MAX="
            f"{connections_max}: need 1 <= per principal <= in all"
        )
    audit_queue_mb = _number(env, "ZAVA_AUDIT_QUEUE_MB", 64.0, float)
    if not 0.1 <= audit_queue_mb <= 4096:
        raise ConfigError(f"ZAVA_AUDIT_QUEUE_MB={audit_queue_mb:g} must be between 0.1 and 4096")
    http: dict[str, float] = {}
    for field, variable, default, kind in HTTP_LIMITS:
        value = _number(env, variable, default, kind)
        if not 0 < value <= 1_000_000:
            raise ConfigError(f"{variable}={value:g} must be above 0 and at most 1000000")
        http[field] = value
    principal_calls_max = _number(env, "ZAVA_PRINCIPAL_CALLS_MAX", 2 * principal_pool_max, int)
    if not principal_pool_max <= principal_calls_max <= 100_000:
        raise ConfigError(
            f"ZAVA_PRINCIPAL_CALLS_MAX={principal_calls_max} must be at least "
            f"ZAVA_PRINCIPAL_POOL_MAX={principal_pool_max}"
        )
    key_cache_seconds = _number(env, "ZAVA_KEY_CACHE_SECONDS", 5.0, float)
    if not 0 <= key_cache_seconds <= 300:
        raise ConfigError(
            f"ZAVA_KEY_CACHE_SECONDS={key_cache_seconds:g} must be between 0 and 300: a revoked "
            "key is accepted for up to that long"
        )
    workers = _number(env, "ZAVA_WORKERS", 1, int)
    if not 1 <= workers <= 64:
        raise ConfigError(f"ZAVA_WORKERS={workers} must be between 1 and 64")
    hosts = tuple(
        host.strip() for host in (env.get("ZAVA_ALLOWED_HOSTS") or "").split(",") if host.strip()
    )
    return ServerSettings(
        host=env.get("ZAVA_HOST") or "127.0.0.1",
        port=_number(env, "ZAVA_PORT", 8000, int),
        identity=identity,  # type: ignore[arg-type]
        database_url=env.get("ZAVA_SERVER_DATABASE_URL") or None,
        public_url=env.get("ZAVA_PUBLIC_URL") or None,
        stateless=_boolean(env, "ZAVA_STATELESS"),
        time_budget_seconds=budget,
        max_rows=max_rows,
        pool_min_size=pool_min,
        pool_max_size=pool_max,
        principal_pool_max=principal_pool_max,
        principal_calls_max=principal_calls_max,
        connections_max=connections_max,
        # Whitespace separates them: a libpq URL may itself list hosts with commas.
        read_urls=tuple((env.get("ZAVA_READ_URLS") or "").split()),
        allowed_hosts=hosts,
        audit_queue_bytes=round(audit_queue_mb * 1024 * 1024),
        key_cache_seconds=key_cache_seconds,
        workers=workers,
        **http,  # type: ignore[arg-type]
    )


def _number(env: dict[str, str], name: str, default: Number, kind: type[Number]) -> Number:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name}={raw!r} is not {noun}") from None


def _boolean(env: dict[str, str], name: str) -> bool:
    raw = (env.get(name) or "false").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={env[name]!r} is not true or false")
