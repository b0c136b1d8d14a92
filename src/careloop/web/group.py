"""Group commit: requests of one kind that arrive together are stored in one transaction.

Under load, submissions arrive while another is being written. Written one transaction
each, every one pays its own statements and its own durable commit; written together,
each table takes one statement for the whole group and the group one commit. Here the
first request to arrive leads: it takes every request waiting (up to ``limit``), runs
them through ``run_many`` in one transaction and commits; those that arrive meanwhile
wait, and the first of them leads the next group. A request alone is a group of one:
nothing ever waits for company, so a quiet server answers as fast as before. One group is
open at a time per process, and its leader's own request is the first of it (two at once
made smaller groups and cost more CPU per request, for no more throughput).

When the group itself fails (a lock lost to a deadlock, a concurrent twin's
Idempotency-Key), it is rolled back and each request runs alone through ``run_one`` (the
one-request path, which waits for a twin and replays its answer), in its own
transaction: one request's trouble is never another's answer. An answer is given
only after the transaction holding it has committed. Call :meth:`GroupCommit.run` from a
worker thread (as the route's use case does), or await :meth:`GroupCommit.submit` from
the event loop: then only a group's leader takes a worker thread, and the requests that
join its group wait on the loop, never leaving it (each trip to the thread pool and back
cost a request about a tenth of its CPU, bench/intake.py). Such a leader's thread is
counted against a limit of the group's own, never the server's, whose threads may all
be requests waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

import anyio
import anyio.to_thread
import structlog
from sqlalchemy.orm import Session

from careloop.core.errors import DomainError
from careloop.db.session import Database

J = TypeVar("J")
R = TypeVar("R")
T = TypeVar("T")

log = structlog.get_logger(__name__)


@dataclass(slots=True, eq=False)
class _Slot(Generic[J, R]):
    job: J
    #: Set when the job is answered, or when its thread is to lead the next group; a
    #: job submitted from the event loop is woken through its future instead.
    wake: threading.Event = field(default_factory=threading.Event)
    future: asyncio.Future[None] | None = None
    result: R | None = None
    error: BaseException | None = None
    done: bool = False

    def answer(self) -> R:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def _wake(slots: Sequence[_Slot[Any, Any]]) -> None:
    """Wake the jobs' waiters: a thread through its event, the jobs of an event loop
    through one call into that loop for them all."""
    futures: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for slot in slots:
        if slot.future is None:
            slot.wake.set()
        else:
            futures.setdefault(slot.future.get_loop(), []).append(slot.future)
    for loop, waiting in futures.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_resolve, waiting)


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


@dataclass
class GroupCommit(Generic[J, R]):
    """One kind of request stored in groups (see the module's text).

    ``run_many`` stores the jobs of a group in the session it is given and returns each
    one's answer, or the :class:`DomainError` that job alone is refused with; it raises
    when the group cannot be stored. ``run_one`` stores a single job (and raises its
    error). Each waiting request sleeps on its own event (a thread) or future (the event
    loop): an answered group wakes its own requests and, when others wait, the first of
    them to lead the next group."""

    database: Database
    run_many: Callable[[Session, Sequence[J]], Sequence[R | DomainError]]
    run_one: Callable[[Session, J], R]
    limit: int = 64
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _waiting: list[_Slot[J, R]] = field(default_factory=list, repr=False)
    _leading: bool = field(default=False, repr=False)
    _limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = field(
        default_factory=weakref.WeakKeyDictionary, repr=False
    )

    def run(self, job: J) -> R:
        """Store ``job`` (with whatever else is waiting) and return its answer once
        committed, or raise its error."""
        slot: _Slot[J, R] = _Slot(job)
        if not self._join(slot):
            slot.wake.wait()  # answered, or handed the lead
            if slot.done:
                return slot.answer()
        return self._lead(slot)

    async def submit(self, job: J) -> R:
        """:meth:`run` from the event loop: the job waits on the loop, and takes a
        worker thread only when it is to lead a group."""
        slot: _Slot[J, R] = _Slot(job, future=asyncio.get_running_loop().create_future())
        future = slot.future
        assert future is not None
        if not self._join(slot):
            try:
                await asyncio.shield(future)  # answered, or handed the lead
            except asyncio.CancelledError:
                # The request is gone, its job is still stored; a lead handed to it
                # is taken up by a thread of its own, so no group is left waiting.
                future.add_done_callback(lambda _: self._lead_orphaned(slot))
                raise
            if slot.done:
                return slot.answer()
        # A worker thread under a limit of the group's own, not the server's: the
        # server's threads may all be requests of the other path waiting in this very
        # group for a leader, which would then never get one.
        return await anyio.to_thread.run_sync(self._lead, slot, limiter=self._leaders())

    def _leaders(self) -> anyio.CapacityLimiter:
        """The limit on this event loop's leading threads (one leads at a time; two, so
        that the next need not wait for the last to return)."""
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(2)
        return limiter

    def _lead_orphaned(self, slot: _Slot[J, R]) -> None:
        if not slot.done:
            threading.Thread(target=self._lead_for_nobody, args=(slot,), daemon=True).start()

    def _lead_for_nobody(self, slot: _Slot[J, R]) -> None:
        with contextlib.suppress(Exception):  # nobody is left to hear this job's answer
            self._lead(slot)

    def _hand_lead(self, slot: _Slot[J, R]) -> None:
        """Wake ``slot``'s waiter to lead the next group; when its event loop has
        closed, a thread of its own leads instead, so that no group is left waiting."""
        if slot.future is None:
            slot.wake.set()
            return
        try:
            slot.future.get_loop().call_soon_threadsafe(_resolve, [slot.future])
        except RuntimeError:
            self._lead_orphaned(slot)

    def _join(self, slot: _Slot[J, R]) -> bool:
        """Queue ``slot``; true when its caller is to lead (no group is open)."""
        with self._lock:
            self._waiting.append(slot)
            leads = not self._leading
            self._leading = True
        return leads

    def _lead(self, slot: _Slot[J, R]) -> R:
        """Store groups until ``slot``'s own is stored, then hand the lead on."""
        try:
            while not slot.done:
                with self._lock:
                    group = self._waiting[: self.limit]
                    del self._waiting[: self.limit]
                try:
                    self._store(group)
                except BaseException as exc:  # the thread itself is stopped
                    unanswered = [other for other in group if not other.done]
                    for other in unanswered:
                        self._settle(other, exc)
                    _wake(unanswered)
                    raise
        finally:
            with self._lock:
                following = self._waiting[0] if self._waiting else None
                if following is None:
                    self._leading = False
            if following is not None:
                self._hand_lead(following)  # it leads the next group
        return slot.answer()

    def _store(self, group: list[_Slot[J, R]]) -> None:
        try:
            answers = self._in_transaction(
                lambda session: self.run_many(session, [slot.job for slot in group])
            )
        except Exception as exc:  # each job is tried again alone
            log.warning(
                "group commit failed; storing each request alone",
                size=len(group),
                error=type(exc).__name__,
            )
            for slot in group:
                try:
                    answer = self._in_transaction(partial(self._one, slot.job))
                except Exception as alone:  # that request's own answer
                    self._settle(slot, alone)
                else:
                    self._settle(slot, answer)
                _wake((slot,))
            return
        for slot, stored in zip(group, answers, strict=True):
            self._settle(slot, stored)
        _wake(group)

    def _one(self, job: J, session: Session) -> R:
        return self.run_one(session, job)

    def _in_transaction(self, work: Callable[[Session], T]) -> T:
        with self.database.unit_of_work() as session:
            return work(session)

    @staticmethod
    def _settle(slot: _Slot[J, R], answer: object) -> None:
        if isinstance(answer, BaseException):
            slot.error = answer
        else:
            slot.result = answer  # type: ignore[assignment]
        slot.done = True
