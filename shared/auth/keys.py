"""API keys: generation, hashed storage, verification with a short cache, revocation, audit trail.

A key is `tp_<id>_<secret>` with 32 random bytes of secret. Keys are high-entropy random tokens,
not passwords, so one SHA-256 is the right hash (a slow KDF buys nothing against brute force of
256 bits and would cost milliseconds per request); comparison is constant-time.

Every change (create, revoke) is recorded in the auth database's `audit_log` (the one audit trail,
shared.audit.log) in the same transaction as the change;
the last active operator key cannot be revoked (`LastOperatorKeyError`), so the system can't be locked out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    func,
    select,
    update,
)

from shared.audit.log import AuditFilter, AuditLog

ROLES = ("marketer", "channel_owner", "agent", "operator", "ingest")
MIGRATIONS_DIR = Path(__file__).parent / "migrations"

metadata = MetaData()
api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
)

class LastOperatorKeyError(Exception):
    """Revoking this key would leave no active operator key."""


@dataclass(frozen=True)
class ApiKey:
    """A verified key: who it is and what it may do."""

    key_id: str
    name: str
    role: str


def hash_key(secret: str) -> str:
    """The stored form of a key's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_key() -> tuple[str, str, str]:
    """Return (key_id, secret, full key text) of a fresh key."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return key_id, secret, f"tp_{key_id}_{secret}"


class ApiKeyStore:
    """Creates, verifies and revokes keys; verification results are cached for `cache_seconds`."""

    def __init__(self, engine: Engine, cache_seconds: float = 10.0) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def create(self, name: str, role: str, actor: ApiKey | None = None) -> tuple[ApiKey, str]:
        """Create a key; return it with its full text, which is shown once and never stored.

        `actor` is the key that asked (None: an admin command with direct database access)."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        key_id, secret, text = generate_key()
        key = ApiKey(key_id, name, role)
        with self.engine.begin() as conn:
            conn.execute(api_keys.insert().values(key_id=key_id, name=name, role=role, key_hash=hash_key(secret)))
            _audit(conn, "create", key, actor)
        return key, text

    def verify(self, text: str) -> ApiKey | None:
        """Return the key behind `text`, or None when it is malformed, unknown or revoked."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(text)
        if cached and now - cached[0] < self.cache_seconds:
            return cached[1]
        result = self._lookup(text)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[text] = (now, result)
        return result

    def _lookup(self, text: str) -> ApiKey | None:
        parts = text.split("_", 2)
        if len(parts) != 3 or parts[0] != "tp" or not parts[1] or not parts[2] or len(text) > 200:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == parts[1])).first()
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.key_hash, hash_key(parts[2])):
            return None
        return ApiKey(row.key_id, row.name, row.role)

    def revoke(self, key_id: str, actor: ApiKey | None = None) -> bool:
        """Revoke an active key (False: no such active key); caches elsewhere forget it within `cache_seconds`.

        Raises `LastOperatorKeyError` when it is the last active operator key."""
        with self.engine.begin() as conn:
            # Lock every active operator key, always in key_id order, before looking at the target: two
            # concurrent revokes of the last two operator keys then serialise (no deadlock either), and
            # the second sees the first's revocation when it re-reads the rows it waited for.
            operators = conn.execute(select(api_keys.c.key_id).where(
                api_keys.c.role == "operator", api_keys.c.revoked_at.is_(None))
                .order_by(api_keys.c.key_id).with_for_update()).scalars().all()
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                               .with_for_update()).first()
            if row is None:
                return False
            if row.role == "operator" and operators == [key_id]:
                raise LastOperatorKeyError(f"{key_id} is the last active operator key; create another operator "
                                           "key first, then revoke this one")
            conn.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(revoked_at=datetime.now(UTC)))
            _audit(conn, "revoke", ApiKey(row.key_id, row.name, row.role), actor)
        with self._lock:
            self._cache.clear()
        return True

    def audit(self, where: AuditFilter, limit: int = 100, before: int | None = None) -> list[dict]:
        """Key audit records newest first, `limit` of them, only those with an id below `before` when given."""
        with self.engine.connect() as conn:
            return AuditLog(conn).page(where, limit, before)

    def list(self) -> list[dict]:
        """All keys, without their hashes."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_keys.c.key_id, api_keys.c.name, api_keys.c.role, api_keys.c.created_at,
                                       api_keys.c.revoked_at).order_by(api_keys.c.created_at)).all()
        return [dict(r._mapping) for r in rows]


def _audit(conn: Connection, action: str, key: ApiKey, actor: ApiKey | None) -> None:
    """Record a key change in the same transaction as the change itself (never the key's secret)."""
    AuditLog(conn, actor).record(f"api_key.{action}", "api_key", key.key_id, at=datetime.now(UTC),
                                 after={"name": key.name, "role": key.role})
