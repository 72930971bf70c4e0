"""Settings, read once from the environment."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DB_DIR = PROJECT_ROOT / "db"

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    """Everything that varies between installations.

    database_url: an existing PostgreSQL (>= 16, with pgvector); None means the embedded one.
    data_dir: where the embedded PostgreSQL keeps its files.
    database_name: the database created inside the embedded PostgreSQL.
    embedding_dim: dimension of the product embedding vectors.
    owner_role, login_role, reader_role: the three roles db/roles.sql creates.
    """

    database_url: str | None
    data_dir: Path
    database_name: str
    embedding_dim: int
    owner_role: str
    login_role: str
    reader_role: str

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        settings = cls(
            database_url=env.get("DATABASE_URL") or None,
            data_dir=Path(env.get("ZAVA_DATA_DIR") or PROJECT_ROOT / ".zava" / "pgdata").resolve(),
            database_name=env.get("ZAVA_DATABASE") or "zava",
            embedding_dim=_positive_int(env, "ZAVA_EMBEDDING_DIM", 384),
            owner_role=env.get("ZAVA_OWNER_ROLE") or "zava_owner",
            login_role=env.get("ZAVA_LOGIN_ROLE") or "zava_server",
            reader_role=env.get("ZAVA_READER_ROLE") or "zava_reader",
        )
        settings.validate()
        return settings

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
            "embedding_dim": self.embedding_dim,
        }


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
