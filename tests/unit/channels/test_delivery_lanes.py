"""Delivery concurrency without I/O: the token bucket under many threads, the connection pool, the send lane."""

from __future__ import annotations

import threading
from collections import Counter
from types import SimpleNamespace

import pytest

from services.channels.adapters.base import (
    ChannelAdapter,
    DeliveryResult,
    Recipient,
    RenderedMessage,
    RetryPolicy,
)
from services.channels.adapters.pool import ConnectionPool, PoolClosed
from services.channels.adapters.ratelimit import TokenBucket
from services.channels.delivery import DeliveryWorker, lease_size
from services.channels.handlers.delivery import Result, Taken, give_back, record
from services.channels.lanes import LaneFull, SendLane
from services.channels.repository.jobs import JobOutcome
from tests.unit.channels.fakes import FakeUnitOfWork


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _hammer(bucket: TokenBucket, threads: int = 8, tries: int = 200) -> int:
    """Every thread tries `tries` times at once; how many tokens were handed out."""
    got = Counter()
    start = threading.Barrier(threads)

    def grab(n: int) -> None:
        start.wait()
        for _ in range(tries):
            if bucket.try_acquire() == 0:
                got[n] += 1

    workers = [threading.Thread(target=grab, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(got.values())


def test_token_bucket_holds_exactly_under_concurrency():
    clock = FakeClock()
    bucket = TokenBucket(rate=50, burst=5, clock=clock)
    assert _hammer(bucket) == 5  # the burst, however many threads race for it
    clock.now += 1.0
    assert _hammer(bucket) == 5  # a second's 50 tokens, but never more than the burst saved up
    total = 10
    for _ in range(100):  # 10 ms steps: half a token each, one token every other step
        clock.now += 0.01
        total += _hammer(bucket, threads=4, tries=5)
        assert total <= 5 + 5 + 50 * (clock.now - 1.0) + 1e-9  # burst + rate * t, at every moment
    assert total == 10 + 50  # and the full rate is reached: a second of 50 tokens
    assert bucket.granted == total


def test_token_bucket_says_how_long_to_wait_and_never_mints_tokens_from_a_clock_going_back():
    clock = FakeClock()
    bucket = TokenBucket(rate=4, burst=1, clock=clock)
    assert bucket.try_acquire() == 0
    assert bucket.try_acquire() == 0.25
    clock.now -= 5
    assert bucket.try_acquire() == 0.25
    clock.now += 5.125  # time counts again only from where it had got to
    assert bucket.try_acquire() == 0.125
    clock.now += 0.125
    assert bucket.try_acquire() == 0


def test_token_bucket_acquire_gives_up_when_stopped():
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=1, clock=clock)
    stop = threading.Event()
    assert bucket.acquire(stop) is True
    stop.set()
    assert bucket.acquire(stop) is False  # no token left and told to stop: returns at once


class Conn:
    count = 0

    def __init__(self) -> None:
        Conn.count += 1
        self.n = Conn.count
        self.closed = False
        self.alive = True


def _pool(size: int = 2, clock: FakeClock | None = None) -> ConnectionPool[Conn]:
    return ConnectionPool(Conn, lambda c: setattr(c, "closed", True), size=size,
                          check=lambda c: c.alive, check_after=30, clock=clock or FakeClock())


def test_pool_reuses_connections_most_recent_first_and_bounds_them():
    pool = _pool(size=2)
    a, b = pool.take(), pool.take()
    assert a is not b and pool.in_use == 2 and pool.opened == 2
    with pytest.raises(TimeoutError):
        pool.take(timeout=0)  # both out: a third caller waits, here not at all
    pool.give_back(a)
    pool.give_back(b)
    assert pool.take() is b and pool.take() is a  # the most recently used first
    assert pool.opened == 2


def test_pool_replaces_broken_and_stale_connections():
    clock = FakeClock()
    pool = _pool(size=1, clock=clock)
    a = pool.take()
    pool.discard(a)  # broken while sending: closed, its slot free
    assert a.closed and pool.in_use == 0
    b = pool.take()
    pool.give_back(b)
    clock.now += 10
    assert pool.take() is b  # recently used: no check
    pool.give_back(b)
    clock.now += 60
    b.alive = False  # the server dropped it while idle
    c = pool.take()
    assert c is not b and b.closed and pool.opened == 3
    pool.give_back(c)
    assert pool.discard_idle() == 1 and c.closed and pool.idle == 0


def test_pool_close_closes_idle_and_returning_connections():
    pool = _pool(size=2)
    a, b = pool.take(), pool.take()
    pool.give_back(a)
    pool.close()
    assert a.closed and not b.closed
    pool.give_back(b)
    assert b.closed
    with pytest.raises(PoolClosed):
        pool.take()


def test_pool_frees_the_slot_when_connecting_fails():
    def refuse() -> Conn:
        raise ConnectionRefusedError("down")

    pool: ConnectionPool[Conn] = ConnectionPool(refuse, lambda c: None, size=1)
    for _ in range(3):
        with pytest.raises(ConnectionRefusedError):
            pool.take(timeout=0)
    assert pool.in_use == 0


def _message(n: int) -> RenderedMessage:
    return RenderedMessage(f"r{n}", f"c{n}", "email", "marketing", {"subject": "s", "body": "b"},
                           Recipient(email=f"c{n}@example.test"))


class BlockingAdapter:
    """Sends block until released; counts how many run at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.started = threading.Semaphore(0)

    def send(self, message: RenderedMessage) -> DeliveryResult:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        self.started.release()
        self.release.wait(10)
        with self.lock:
            self.running -= 1
        if message.request_id == "r-boom":
            raise RuntimeError("adapter bug")
        return DeliveryResult("sent", message.request_id)


def test_lane_runs_up_to_max_in_flight_at_once_and_never_more():
    adapter = BlockingAdapter()
    lane: SendLane[int] = SendLane(adapter.send, max_in_flight=4, name="email")
    try:
        for n in range(4):
            lane.submit(n, _message(n))
        for _ in range(4):
            assert adapter.started.acquire(timeout=10)  # all four started without waiting for each other
        assert lane.free == 0 and adapter.running == 4
        with pytest.raises(LaneFull):
            lane.submit(5, _message(5))  # the lane never queues: the re-check stays fresh
        adapter.release.set()
        assert lane.wait_idle(10)
        results = lane.drain()
        assert sorted(k for k, _ in results) == [0, 1, 2, 3] and {r.status for _, r in results} == {"sent"}
        assert adapter.peak == 4 and lane.peak_in_flight == 4 and lane.free == 4
    finally:
        adapter.release.set()
        lane.close()


def test_an_adapter_exception_is_a_retry_result():
    adapter = BlockingAdapter()
    adapter.release.set()
    lane: SendLane[str] = SendLane(adapter.send, max_in_flight=1, name="email")
    try:
        lane.submit("boom", RenderedMessage("r-boom", "c", "email", "marketing", {}, Recipient()))
        assert lane.wait(10)
        [(key, result)] = lane.drain()
        assert key == "boom" and result.status == "retry" and "RuntimeError: adapter bug" in result.detail
    finally:
        lane.close()


def test_a_stuck_provider_does_not_hold_up_another_channel():
    stuck, quick = BlockingAdapter(), BlockingAdapter()
    quick.release.set()
    sms: SendLane[int] = SendLane(stuck.send, max_in_flight=2, name="sms")
    email: SendLane[int] = SendLane(quick.send, max_in_flight=2, name="email")
    try:
        sms.submit(1, _message(1))
        sms.submit(2, _message(2))
        for n in range(10):  # the email lane keeps going while the SMS provider holds both its threads
            email.submit(n, _message(n))
            assert email.wait_idle(10)
        assert len(email.drain()) == 10 and sms.in_flight == 2 and sms.drain() == []
    finally:
        stuck.release.set()
        sms.close()
        email.close()


def test_lease_size_is_two_lane_turns_within_the_batch_and_a_second_of_rate():
    assert lease_size(16, 100_000, 100) == 32
    assert lease_size(16, 100_000, 20) == 20
    assert lease_size(1, 1000, 100) == 10  # a one-at-a-time adapter still leases a chunk of 10
    assert lease_size(16, 5, 100) == 5  # a slow rate: no more than a second's worth waits re-checked
    assert lease_size(4, 0.2, 100) == 1


class FakeJobsRecording:
    """The jobs repository's record/give_back: only jobs still leased by the same attempt are written."""

    def __init__(self, leased: dict[int, int]) -> None:
        self.leased = leased  # job id -> attempts of the live lease
        self.outcomes: list[JobOutcome] = []
        self.given_back: list[tuple[int, int]] = []

    def record(self, outcomes):
        mine = [o for o in outcomes if self.leased.get(o.job_id) == o.attempts]
        self.outcomes.extend(mine)
        return {o.job_id for o in mine}

    def give_back(self, leased):
        self.given_back.extend(leased)


def _job(n: int, attempts: int = 1) -> SimpleNamespace:
    return SimpleNamespace(id=n, attempts=attempts, touch_id=n, request_id=f"r{n}", contact_id=f"c{n}",
                           channel="email", category="marketing",
                           request={"request_id": f"r{n}", "contact_id": f"c{n}", "channel": "email",
                                    "category": "marketing"})


def test_record_writes_a_batch_and_skips_jobs_another_worker_took_over():
    from datetime import UTC, datetime

    uow = FakeUnitOfWork()
    for n in (1, 2, 3, 4):
        uow.ledger.touches.append({"id": n, "state": "reserved"})
    uow.jobs = FakeJobsRecording({1: 1, 2: 1, 3: 2, 4: 1})  # job 3 was leased again (attempt 2) meanwhile
    policy = RetryPolicy(max_attempts=5, backoff_seconds=2)
    results = [Result(_job(1), "sent", DeliveryResult("sent", "<r1@touchpoint>"), "sent", "sent"),
               Result(_job(2), "pending", DeliveryResult("retry", None, "421"), None, None),
               Result(_job(3), "sent", DeliveryResult("sent", "<r3@touchpoint>"), "sent", "sent"),
               Result(_job(4), "cancelled", DeliveryResult("failed", None, "suppressed"), "suppressed",
                      "at_delivery:suppressed:global")]
    assert record(uow, results, policy, datetime.now(UTC)) == 3
    by_id = {o.job_id: o for o in uow.jobs.outcomes}
    assert by_id[1].state == "sent" and by_id[1].provider_id == "<r1@touchpoint>"
    assert by_id[2].state == "pending" and by_id[2].retry_after == 2 and by_id[2].provider_id is None
    assert 3 not in by_id
    assert [t["state"] for t in uow.ledger.touches] == ["sent", "reserved", "reserved", "cancelled"]
    assert [(t, p["request_id"]) for t, p, _ in uow.published] == [("message.sent", "r1"),
                                                                   ("message.suppressed", "r4")]
    give_back(uow, [_job(5, attempts=3)])
    assert uow.jobs.given_back == [(5, 3)]


def test_a_poke_wakes_a_waiting_lane_without_results():
    lane: SendLane[int] = SendLane(BlockingAdapter().send, max_in_flight=1, name="email")
    try:
        threading.Timer(0.05, lane.poke).start()
        assert lane.wait(30) is False  # woken by the poke (not the 30 s), nothing to drain
    finally:
        lane.close()


class QuickAdapter(ChannelAdapter):
    """Sends at once and counts them."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def send(self, message: RenderedMessage) -> DeliveryResult:
        with self.lock:
            self.sent.append(message.request_id)
        return DeliveryResult("sent", message.request_id)


def _turn_until(worker: DeliveryWorker, condition, turns: int = 20_000) -> None:
    for _ in range(turns):
        if condition():
            return
        worker.turn()
    raise AssertionError("condition not reached")


def test_the_lane_keeps_sending_while_a_record_is_written_and_stops_at_a_batch_and_a_lane_unrecorded():
    adapter = QuickAdapter("email", {"max_in_flight": 4, "rate_limit_per_second": 1000})
    worker = DeliveryWorker(engine=None, adapter=adapter, batch_size=10)
    assert worker.batch == 10
    jobs = [_job(n) for n in range(30)]
    leases = [Taken([(job, _message(job.id)) for job in jobs], [])]
    worker._lease_batch = lambda: leases.pop() if leases else Taken([], [])
    release, written = threading.Event(), []

    def write(results):
        release.wait()  # the first record hangs until the test lets it land
        written.extend(r.job.id for r in results)

    worker._write = write
    try:
        _turn_until(worker, lambda: worker._recording is not None)
        _turn_until(worker, lambda: worker._held_back() and not worker.lane.in_flight)
        # Sends went on while the record was written, up to a batch and a lane unrecorded, then stopped.
        held = len(adapter.sent)
        assert worker._record_at < held == worker.batch + adapter.max_in_flight
        for _ in range(2):  # each waits (up to 1 s) for the record to land
            worker.turn()
        assert len(adapter.sent) == held
        release.set()
        _turn_until(worker, lambda: len(written) == 30)
        assert sorted(written) == list(range(30)) and sorted(adapter.sent) == sorted(f"r{n}" for n in range(30))
    finally:
        release.set()
        worker.stop()
        worker._shutdown()


def test_a_record_that_fails_keeps_its_batch_for_the_next_try():
    adapter = QuickAdapter("email", {"max_in_flight": 2, "rate_limit_per_second": 1000})
    worker = DeliveryWorker(engine=None, adapter=adapter, batch_size=10)
    leases = [Taken([(_job(n), _message(n)) for n in range(3)], [])]
    worker._lease_batch = lambda: leases.pop() if leases else Taken([], [])
    attempts, written = [], []

    def write(results):
        attempts.append(len(results))
        if len(attempts) == 1:
            raise OSError("database restarting")
        written.extend(r.job.id for r in results)

    worker._write = write
    try:
        with pytest.raises(OSError):
            _turn_until(worker, lambda: False)
        _turn_until(worker, lambda: len(written) == 3)
        assert sorted(written) == [0, 1, 2] and len(adapter.sent) == 3  # recorded once each, never sent again
    finally:
        worker.stop()
        worker._shutdown()
