"""The MLLP listener (python-hl7's asyncio streams): each framed message
(0x0b ... 0x1c 0x0d) is applied in its own unit of work and answered with its ACK or NAK
on the same connection, in order.

Messages are applied one at a time (a feed sends one message after another and waits
for each answer; one at a time also keeps a repeated control id from racing itself).

A client is not waited on for ever (``Limits``): one that connects and sends nothing,
goes quiet between messages, sends a message without its end block, or does not take
its answer is closed, and a connection past the most served at once is closed at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from hl7.mllp import InvalidBlockError, start_hl7_server
from hl7.mllp.streams import (
    CARRIAGE_RETURN,
    END_BLOCK,
    START_BLOCK,
    HL7StreamReader,
    HL7StreamWriter,
)

from careloop.adt import answer, service
from careloop.core.clock import Clock
from careloop.db.session import Database

log = structlog.get_logger("careloop.adt")

#: The largest message read (bytes): ADT messages are a few kilobytes.
MAX_MESSAGE = 1_000_000


def decode(block: bytes) -> str:
    """UTF-8 (MSH-18 UNICODE UTF-8), else Latin-1 (8859/1), the usual other charset."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("latin-1")


@dataclass(frozen=True, slots=True)
class Limits:
    """How long the listener waits on a client, and for how many at once. A feed's
    engine connects when it has a message to send and sends the whole of it at once;
    a client that does neither holds a connection someone else needs."""

    #: A new connection's first byte (a client that connects and sends nothing).
    first_byte: float = 60.0
    #: Between messages on an open connection (engines keep theirs open; they reconnect).
    idle: float = 600.0
    #: From a message's first byte to its end block (0x1c 0x0d).
    frame: float = 30.0
    #: For the client to take our answer (one that never reads holds the buffers).
    write: float = 30.0
    #: Connections served at once; one more is closed at once.
    connections: int = 64


class Listener:
    """Accepts ADT messages on ``host:port`` and answers each one."""

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock,
        zone: str,
        limits: Limits | None = None,
        facilities: frozenset[str] | None = None,
    ) -> None:
        self.database, self.clock, self.zone = database, clock, zone
        self.limits = limits or Limits()
        self.facilities = facilities
        self._lock = threading.Lock()
        self._open = 0

    def apply(self, text: str) -> service.Answer:
        """One message in its own transaction; a failure of ours is a NAK (AE, 207)."""
        with self._lock:
            try:
                with self.database.unit_of_work() as session:
                    return service.receive(
                        session, text, clock=self.clock, zone=self.zone, facilities=self.facilities
                    )
            except Exception as exc:
                # The type only: a driver's message or a traceback can quote PHI.
                log.error("adt.failed", error_type=type(exc).__name__)
                return _failure(self.clock)

    async def handle(self, reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
        if self._open >= self.limits.connections:
            log.warning("adt.too_many_connections", limit=self.limits.connections)
            writer.transport.abort()
            return
        self._open += 1
        try:
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError) as exc:
            log.info("adt.connection_dropped", reason=type(exc).__name__)
            writer.transport.abort()
        finally:
            self._open -= 1
            writer.close()

    async def _serve(self, reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
        """Each message answered in order; the connection closed on a client that is
        silent, slow, sends what is not MLLP or a message too large."""
        wait = self.limits.first_byte
        while True:
            try:
                start = await asyncio.wait_for(reader.readexactly(1), wait)
            except (asyncio.IncompleteReadError, TimeoutError):
                return  # the client closed, or sent nothing for too long
            if start in _BETWEEN_FRAMES:
                continue  # a line break some engines send after the end block
            wait = self.limits.idle
            refusal = None
            try:
                if start != START_BLOCK:
                    raise InvalidBlockError("no start block")
                block = await asyncio.wait_for(
                    reader.readuntil(END_BLOCK + CARRIAGE_RETURN), self.limits.frame
                )
            except asyncio.IncompleteReadError:
                return  # closed in the middle of a message: no one to answer
            except TimeoutError:
                refusal = _not_framed(self.clock, _SLOW)
            except (InvalidBlockError, asyncio.LimitOverrunError, ValueError):
                refusal = _not_framed(self.clock, _NOT_FRAMED)
            if refusal is not None:
                # Answer once, then hang up: what follows cannot be told from the message.
                log.info("adt.not_framed")
                await self._send(writer, refusal.message.encode())
                return
            reply = await asyncio.to_thread(self.apply, decode(block[:-2]))
            await self._send(writer, reply.message.encode("utf-8"))

    async def _send(self, writer: HL7StreamWriter, data: bytes) -> None:
        writer.writeblock(data)
        await asyncio.wait_for(writer.drain(), self.limits.write)

    async def start(self, host: str, port: int) -> asyncio.Server:
        server: asyncio.Server = await start_hl7_server(self.handle, host, port, limit=MAX_MESSAGE)
        return server


#: Bytes taken between one frame and the next (engines that end a frame with 0x1c 0x0d
#: 0x0a, or send a line break to keep the connection open), not a reason to hang up.
_BETWEEN_FRAMES = (b"\r", b"\n")

_NOT_FRAMED = "The message is not framed as MLLP (0x0b, the message, 0x1c 0x0d) or is too large."
_SLOW = "The message did not arrive whole (its end block, 0x1c 0x0d) in time."


def _failure(clock: Clock) -> service.Answer:
    text = "The message could not be applied because of an error on our side; send it again."
    now = clock.now()
    message = answer.ack(
        None, answer.AckCode.error, text, now=now, control_id=f"CL{now:%Y%m%d%H%M%S%f}"
    )
    return service.Answer(message, answer.AckCode.error, text)


def _not_framed(clock: Clock, text: str) -> service.Answer:
    now = clock.now()
    message = answer.ack(
        None,
        answer.AckCode.rejected,
        text,
        now=now,
        control_id=f"CL{now:%Y%m%d%H%M%S%f}",
        where=answer.Location("MSH"),
        hl7_error="100",
    )
    return service.Answer(message, answer.AckCode.rejected, text)


async def serve_forever(
    database: Database,
    *,
    host: str,
    port: int,
    clock: Clock,
    zone: str,
    ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    limits: Limits | None = None,
    facilities: frozenset[str] | None = None,
) -> None:
    """Listen until ``stop`` is set (or forever); ``ready`` gets the bound port;
    ``facilities``: the sending facilities (MSH-4) taken (None: any)."""
    listener = Listener(database, clock=clock, zone=zone, limits=limits, facilities=facilities)
    server = await listener.start(host, port)
    bound = int(server.sockets[0].getsockname()[1])
    log.info("adt.listening", host=host, port=bound, facilities=sorted(facilities or []))
    if ready is not None:
        ready(bound)
    async with server:
        if stop is None:
            await server.serve_forever()
        else:
            await stop.wait()


class ListenerThread:
    """The listener on its own event loop in a background thread (tests, the demo)."""

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock,
        zone: str,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: Limits | None = None,
        facilities: frozenset[str] | None = None,
    ) -> None:
        self._args = (database, host, port, clock, zone)
        self._limits, self._facilities = limits, facilities
        self._bound = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="careloop-mllp", daemon=True)
        self.port = 0

    def _run(self) -> None:
        database, host, port, clock, zone = self._args

        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()

            def ready(bound: int) -> None:
                self.port = bound
                self._bound.set()

            await serve_forever(
                database,
                host=host,
                port=port,
                clock=clock,
                zone=zone,
                ready=ready,
                stop=self._stop,
                limits=self._limits,
                facilities=self._facilities,
            )

        asyncio.run(main())

    def start(self) -> int:
        self._thread.start()
        if not self._bound.wait(10):
            raise RuntimeError("the MLLP listener did not start")
        return self.port

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
