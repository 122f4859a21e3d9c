"""Events from the worker thread to every open `GET /api/events` stream.

The worker publishes from its own thread; each stream reads an asyncio queue on the server's loop.
`publish` hands the event over with `call_soon_threadsafe`, so the worker never blocks on a slow page;
a stream that falls more than MAX_BACKLOG events behind loses the oldest ones (progress is re-sent
with every step, so nothing essential is lost).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

MAX_BACKLOG = 256
KEEPALIVE_SECONDS = 15.0


class EventBus:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = []
        self.ids = itertools.count(1)
        self.closed = False

    def publish(self, kind: str, **data: Any) -> None:
        """Send one event (thread-safe, never blocks)."""
        event = (next(self.ids), kind, json.dumps(data, separators=(",", ":")))
        with self.lock:
            subscribers = list(self.subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_put, queue, event)
            except RuntimeError:  # that stream's loop has closed
                pass

    def close(self) -> None:
        """End every stream (server shutdown)."""
        self.closed = True
        with self.lock:
            subscribers = list(self.subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_put, queue, None)
            except RuntimeError:
                pass

    async def stream(self) -> AsyncIterator[str]:
        """Server-Sent Events text for one client, until it disconnects or the bus closes."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        entry = (loop, queue)
        with self.lock:
            self.subscribers.append(entry)
        try:
            yield "retry: 1000\n\n"
            while True:  # events queued before close() are still sent; close()'s None ends the stream
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except asyncio.TimeoutError:
                    if self.closed:
                        return
                    yield ": keep-alive\n\n"
                    continue
                if event is None:
                    return
                event_id, kind, data = event
                yield f"id: {event_id}\nevent: {kind}\ndata: {data}\n\n"
        finally:
            with self.lock:
                self.subscribers.remove(entry)


def _put(queue: asyncio.Queue, event) -> None:
    if event is not None and queue.qsize() >= MAX_BACKLOG:
        queue.get_nowait()
    queue.put_nowait(event)
