"""Tables of the scheduler database and the queries on them (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    and_,
    delete,
    exists,
    func,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert

from services.scheduler.domain.entries import DueEntry
from services.scheduler.leadership import LOCK_CLASS, LOCK_OBJECT
from shared.messaging import MessagingTables

metadata = MetaData()
TABLES = MessagingTables(metadata)

due_entries = Table(
    "due_entries", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("entry_id", String(255), nullable=False, unique=True),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("message_type", String(64), nullable=False),
    Column("key", String(128)),
    Column("owner", String(128)),
    Column("payload", JSONB, nullable=False),
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("paused", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("settled_at", DateTime(timezone=True)),
    # The poll reads this index only: pending, not paused, in due order. Published and cancelled
    # rows are outside it, so a million settled rows cost the poll nothing.
    Index("ix_due_entries_pending_due", "due_at", "id",
          postgresql_where=text("state = 'pending' AND NOT paused")),
    Index("ix_due_entries_owner", "owner", postgresql_where=text("owner IS NOT NULL")),
    Index("ix_due_entries_settled", "settled_at", postgresql_where=text("state <> 'pending'")),
)

recurring_schedules = Table(
    "recurring_schedules", metadata,
    Column("schedule_id", String(128), primary_key=True),
    Column("owner", String(128)),
    Column("at", DateTime(timezone=True)),
    Column("cron", String(128)),
    Column("timezone", String(64), nullable=False, server_default="UTC"),
    Column("message_type", String(64), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("next_fire_at", DateTime(timezone=True)),
    Column("last_fired_at", DateTime(timezone=True)),
    Column("paused", Boolean, nullable=False, server_default="false"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_recurring_next_fire", "next_fire_at", postgresql_where=text("next_fire_at IS NOT NULL AND NOT paused")),
    Index("ix_recurring_owner", "owner"),
)

paused_owners = Table(
    "paused_owners", metadata,
    Column("owner", String(128), primary_key=True),
    Column("paused_at", DateTime(timezone=True), nullable=False),
)


def _owner_paused(owner_column) -> Any:
    return exists().where(paused_owners.c.owner == owner_column)


def is_paused(conn: Connection, owner: str | None) -> bool:
    """Whether `owner` is paused now."""
    if owner is None:
        return False
    return conn.execute(select(paused_owners.c.owner).where(paused_owners.c.owner == owner)).first() is not None


def add_entries(conn: Connection, entries: Sequence[DueEntry]) -> int:
    """Insert entries, ignoring entry ids already known (idempotency key); return how many were new."""
    if not entries:
        return 0
    owners = {e.owner for e in entries if e.owner is not None}
    paused = set(conn.execute(select(paused_owners.c.owner).where(paused_owners.c.owner.in_(owners))).scalars()) \
        if owners else set()
    rows = [{"entry_id": e.entry_id, "due_at": e.due_at, "message_type": e.message_type, "key": e.key,
             "owner": e.owner, "payload": e.payload, "paused": e.owner in paused} for e in entries]
    # executemany, not one giant VALUES: SQLAlchemy caches the statement and batches the rows itself
    # ("insertmanyvalues"), where a fresh 1,000-row VALUES clause is compiled again on every call.
    result = conn.execute(insert(due_entries).on_conflict_do_nothing(index_elements=["entry_id"])
                          .returning(due_entries.c.id), rows)
    return len(result.all())


def cancel_entry(conn: Connection, entry_id: str, now: datetime) -> int:
    """Cancel one pending entry; leave a cancelled tombstone when it is not known yet (request arrives later)."""
    changed = conn.execute(update(due_entries).where(due_entries.c.entry_id == entry_id,
                                                     due_entries.c.state == "pending")
                           .values(state="cancelled", settled_at=now)).rowcount
    if changed:
        return changed
    conn.execute(insert(due_entries).values(entry_id=entry_id, due_at=now, message_type="step.due", payload={},
                                            state="cancelled", settled_at=now)
                 .on_conflict_do_nothing(index_elements=["entry_id"]))
    return 0


def cancel_owner(conn: Connection, owner: str, now: datetime) -> int:
    """Cancel every pending entry of `owner`."""
    return conn.execute(update(due_entries).where(due_entries.c.owner == owner, due_entries.c.state == "pending")
                        .values(state="cancelled", settled_at=now)).rowcount


def claim_due(conn: Connection, now: datetime, limit: int) -> list[Any]:
    """Lock up to `limit` due, unpaused, pending entries in due order; rows other pollers hold are skipped."""
    query = (select(due_entries.c.id, due_entries.c.entry_id, due_entries.c.due_at, due_entries.c.message_type,
                    due_entries.c.key, due_entries.c.payload)
             .where(due_entries.c.state == "pending", ~due_entries.c.paused, due_entries.c.due_at <= now,
                    # the flag is the fast path; this check closes the race with a pause in flight
                    or_(due_entries.c.owner.is_(None), ~_owner_paused(due_entries.c.owner)))
             .order_by(due_entries.c.due_at, due_entries.c.id)
             .limit(limit)
             .with_for_update(of=due_entries, skip_locked=True))
    return conn.execute(query).all()


def next_due(conn: Connection) -> datetime | None:
    """When the earliest pending, unpaused entry or schedule comes due (None: nothing is pending).

    The poll job sleeps until then; the same conditions as the claims, so a paused owner's overdue
    entry never wakes it for nothing.
    """
    entry = (select(due_entries.c.due_at)
             .where(due_entries.c.state == "pending", ~due_entries.c.paused,
                    or_(due_entries.c.owner.is_(None), ~_owner_paused(due_entries.c.owner)))
             .order_by(due_entries.c.due_at, due_entries.c.id).limit(1).scalar_subquery())
    schedule = (select(recurring_schedules.c.next_fire_at)
                .where(recurring_schedules.c.next_fire_at.is_not(None), ~recurring_schedules.c.paused,
                       or_(recurring_schedules.c.owner.is_(None), ~_owner_paused(recurring_schedules.c.owner)))
                .order_by(recurring_schedules.c.next_fire_at).limit(1).scalar_subquery())
    return conn.execute(select(func.least(entry, schedule))).scalar()


def mark_published(conn: Connection, ids: Sequence[int], now: datetime) -> None:
    """Settle claimed entries as published."""
    conn.execute(update(due_entries).where(due_entries.c.id.in_(list(ids))).values(state="published", settled_at=now))


def purge_settled(conn: Connection, before: datetime, limit: int = 10_000) -> int:
    """Delete up to `limit` published/cancelled entries settled before `before` (retention)."""
    doomed = (select(due_entries.c.id).where(due_entries.c.state != "pending", due_entries.c.settled_at < before)
              .limit(limit).scalar_subquery())
    return conn.execute(delete(due_entries).where(due_entries.c.id.in_(doomed))).rowcount


def upsert_schedule(conn: Connection, values: dict[str, Any]) -> None:
    """Create or replace a broadcast schedule (its next_fire_at already computed)."""
    stmt = insert(recurring_schedules).values(**values, updated_at=func.now())
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["schedule_id"],
        set_={name: stmt.excluded[name] for name in (*values.keys(), "updated_at") if name != "schedule_id"}))


def get_schedule(conn: Connection, schedule_id: str, lock: bool = False) -> Any:
    """One schedule row, or None."""
    query = select(recurring_schedules).where(recurring_schedules.c.schedule_id == schedule_id)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).first()


def remove_schedule(conn: Connection, schedule_id: str) -> int:
    """Delete a schedule."""
    return conn.execute(delete(recurring_schedules).where(recurring_schedules.c.schedule_id == schedule_id)).rowcount


def claim_due_schedules(conn: Connection, now: datetime, limit: int) -> list[Any]:
    """Lock up to `limit` unpaused schedules whose next fire time has come."""
    query = (select(recurring_schedules)
             .where(recurring_schedules.c.next_fire_at <= now, ~recurring_schedules.c.paused,
                    or_(recurring_schedules.c.owner.is_(None), ~_owner_paused(recurring_schedules.c.owner)))
             .order_by(recurring_schedules.c.next_fire_at)
             .limit(limit)
             .with_for_update(of=recurring_schedules, skip_locked=True))
    return conn.execute(query).all()


def advance_schedule(conn: Connection, schedule_id: str, fired_for: datetime, next_fire_at: datetime | None) -> None:
    """Record a firing and the next fire time."""
    conn.execute(update(recurring_schedules).where(recurring_schedules.c.schedule_id == schedule_id)
                 .values(last_fired_at=fired_for, next_fire_at=next_fire_at))


def set_paused(conn: Connection, owner: str, paused: bool, now: datetime) -> tuple[int, int]:
    """Pause or resume an owner's entries and schedules; return (entries, schedules) changed."""
    if paused:
        conn.execute(insert(paused_owners).values(owner=owner, paused_at=now)
                     .on_conflict_do_nothing(index_elements=["owner"]))
    else:
        conn.execute(delete(paused_owners).where(paused_owners.c.owner == owner))
    entries = conn.execute(update(due_entries).where(due_entries.c.owner == owner, due_entries.c.state == "pending",
                                                     due_entries.c.paused.is_not(paused))
                           .values(paused=paused)).rowcount
    schedules = conn.execute(update(recurring_schedules).where(recurring_schedules.c.owner == owner,
                                                               recurring_schedules.c.paused.is_not(paused))
                             .values(paused=paused)).rowcount
    return entries, schedules


def list_entries(conn: Connection, *, state: str, due_before: datetime | None, owner: str | None,
                 after: tuple[datetime, int] | None, limit: int, unpaused_only: bool = False) -> list[Any]:
    """Entries in due order (keyset pagination after (due_at, id))."""
    conditions = [due_entries.c.state == state]
    if due_before is not None:
        conditions.append(due_entries.c.due_at <= due_before)
    if owner is not None:
        conditions.append(due_entries.c.owner == owner)
    if unpaused_only:
        conditions.append(~due_entries.c.paused)
    if after is not None:
        conditions.append(tuple_(due_entries.c.due_at, due_entries.c.id) > tuple_(*after))
    query = (select(due_entries).where(and_(*conditions)).order_by(due_entries.c.due_at, due_entries.c.id)
             .limit(limit))
    return conn.execute(query).all()


def list_schedules(conn: Connection, *, owner: str | None, after: str | None, limit: int) -> list[Any]:
    """Schedules in id order."""
    query = select(recurring_schedules).order_by(recurring_schedules.c.schedule_id).limit(limit)
    if owner is not None:
        query = query.where(recurring_schedules.c.owner == owner)
    if after is not None:
        query = query.where(recurring_schedules.c.schedule_id > after)
    return conn.execute(query).all()


def stats(conn: Connection, now: datetime) -> dict[str, Any]:
    """Pending, overdue and paused counts and the due time of the oldest overdue entry."""
    pending = conn.execute(select(func.count()).select_from(due_entries)
                           .where(due_entries.c.state == "pending", ~due_entries.c.paused)).scalar_one()
    overdue, oldest = conn.execute(select(func.count(), func.min(due_entries.c.due_at))
                                   .where(due_entries.c.state == "pending", ~due_entries.c.paused,
                                          due_entries.c.due_at <= now)).one()
    paused = conn.execute(select(func.count()).select_from(due_entries)
                          .where(due_entries.c.state == "pending", due_entries.c.paused)).scalar_one()
    schedules = conn.execute(select(func.count()).select_from(recurring_schedules)).scalar_one()
    return {"pending": pending, "overdue": overdue, "oldest_overdue_due_at": oldest, "paused": paused,
            "schedules": schedules}


def current_leader(conn: Connection) -> dict[str, Any] | None:
    """Who holds the scheduler's advisory lock in this database (application name, pid, since), or None."""
    row = conn.execute(text(
        "SELECT a.application_name, a.pid, a.client_addr::text AS client_addr, a.backend_start"
        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.classid = :c AND l.objid = :o AND l.granted"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
        {"c": LOCK_CLASS, "o": LOCK_OBJECT}).first()
    if row is None:
        return None
    return {"identity": row.application_name, "pid": row.pid, "client_addr": row.client_addr,
            "since": row.backend_start}


class ScheduleStore:
    """The repository the use-case handlers see: the queries above bound to one unit of work's connection.

    Handlers take it instead of a connection so they run unchanged against the in-memory fake of
    `tests/unit/scheduler/fakes.py`; the pollers keep calling the functions directly.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @classmethod
    def of(cls, uow: Any) -> ScheduleStore:
        """The store of a unit of work (its connection)."""
        return cls(uow.conn)

    def list_entries(self, **criteria: Any) -> list[Any]:
        """Entries in due order; `criteria` as for the module's `list_entries`."""
        return list_entries(self.conn, **criteria)

    def list_schedules(self, *, owner: str | None, after: str | None, limit: int) -> list[Any]:
        """Schedules in id order."""
        return list_schedules(self.conn, owner=owner, after=after, limit=limit)

    def stats(self, now: datetime) -> dict[str, Any]:
        """Pending, overdue and paused counts and the due time of the oldest overdue entry."""
        return stats(self.conn, now)

    def current_leader(self) -> dict[str, Any] | None:
        """Who holds the scheduler lock, or None."""
        return current_leader(self.conn)

    def is_paused(self, owner: str | None) -> bool:
        """Whether `owner` is paused now."""
        return is_paused(self.conn, owner)

    def add_entries(self, entries: Sequence[DueEntry]) -> int:
        """Insert entries, ignoring known entry ids; how many were new."""
        return add_entries(self.conn, entries)

    def cancel_entry(self, entry_id: str, now: datetime) -> int:
        """Cancel one pending entry (a tombstone when it is not known yet)."""
        return cancel_entry(self.conn, entry_id, now)

    def cancel_owner(self, owner: str, now: datetime) -> int:
        """Cancel every pending entry of `owner`."""
        return cancel_owner(self.conn, owner, now)

    def get_schedule(self, schedule_id: str, lock: bool = False) -> Any:
        """One schedule row, or None."""
        return get_schedule(self.conn, schedule_id, lock)

    def upsert_schedule(self, values: dict[str, Any]) -> None:
        """Create or replace a broadcast schedule."""
        upsert_schedule(self.conn, values)

    def remove_schedule(self, schedule_id: str) -> int:
        """Delete a schedule."""
        return remove_schedule(self.conn, schedule_id)

    def set_paused(self, owner: str, paused: bool, now: datetime) -> tuple[int, int]:
        """Pause or resume an owner's entries and schedules."""
        return set_paused(self.conn, owner, paused, now)
