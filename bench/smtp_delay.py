"""A TCP proxy in front of smtp-sink that holds each message's end of data for N ms: a slow provider.

    python -m bench.smtp_delay --port 2526 --upstream-port 2525 --delay-ms 100

smtp-sink can only wait whole seconds (`-w`, `-W`), real providers answer in 50-300 ms. The proxy
forwards bytes both ways at once and delays only a client chunk that ends the DATA section
("CRLF.CRLF"), so the server's 250 for each message comes N ms later, while any number of
connections wait side by side (an event loop, no thread per connection). Printed on stdout:
"ready <port>" once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import collections

END_OF_DATA = b"\r\n.\r\n"


def ends_data(previous_tail: bytes, chunk: bytes) -> bool:
    """Whether `chunk` (after bytes ending in `previous_tail`) ends an SMTP DATA section."""
    return (previous_tail[-4:] + chunk).endswith(END_OF_DATA)


class _Upstream(asyncio.Protocol):
    """Server → client: forwarded as it comes."""

    def __init__(self, client: asyncio.Transport) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()


class _Client(asyncio.Protocol):
    """Client → server: forwarded at once, except the end of a message, which waits `delay` seconds."""

    def __init__(self, host: str, port: int, delay: float) -> None:
        self.host, self.port, self.delay = host, port, delay
        self.upstream: asyncio.Transport | None = None
        self.pending: collections.deque[tuple[float, bytes]] = collections.deque()  # (due, bytes) in order
        self.tail = b""
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self.upstream, _ = await loop.create_connection(lambda: _Upstream(self.transport), self.host, self.port)
        except OSError:
            self.transport.close()
            return
        self._flush()

    def data_received(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.delay if ends_data(self.tail, data) else 0.0
        self.tail = (self.tail + data)[-4:]
        # keep the order: a chunk behind a held one waits for it
        self.pending.append((max(due, self.pending[-1][0]) if self.pending else due, data))
        self._flush()

    def _flush(self) -> None:
        if self.upstream is None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self.pending and self.pending[0][0] <= now:
            self.upstream.write(self.pending.popleft()[1])
        if self.pending and self.timer is None:
            self.timer = loop.call_at(self.pending[0][0], self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.upstream is not None:
            self.upstream.close()


async def serve(port: int, upstream_host: str, upstream_port: int, delay_ms: float) -> None:
    """Listen on 127.0.0.1:`port` until killed."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Client(upstream_host, upstream_port, delay_ms / 1000),
                                      "127.0.0.1", port, backlog=1024)
    print(f"ready {port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-host", default="127.0.0.1")
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.upstream_host, args.upstream_port, args.delay_ms))


if __name__ == "__main__":
    main()
