"""The live view's feed: one poll of the devices' cards, shared by every open live page.

Each open page used to query the stack once a second on its own: ten pages, ten reads a second. Here one task
polls while at least one page listens (none when nobody looks), and each page gets every new snapshot and sends
only the cards that changed. Pages are capped (``MAX_LIVE_PAGES``): one more is refused with 503, so no number
of open tabs can multiply the reads or the connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

MAX_LIVE_PAGES = 20
LIVE_POLL_S = 1.0

Snapshot = dict[str, tuple[str, str]]  # device id -> (DOM id, rendered card)


class TooManyPages(Exception):
    """Every live slot is taken."""


class LiveFeed:
    """One poll (``poll``: the rendered cards now) feeding every subscriber."""

    def __init__(self, poll: Callable[[], Awaitable[Snapshot]], *, every_s: float = LIVE_POLL_S) -> None:
        self.poll, self.every_s = poll, every_s
        self.listeners = 0
        self.polls = 0  # how many times the stack was read (the console's own count, for tests and plots)
        self._snapshot: Snapshot = {}
        self._version = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        try:
            while self.listeners:
                snapshot = await self.poll()
                self.polls += 1
                async with self._changed:
                    self._snapshot, self._version = snapshot, self._version + 1
                    self._changed.notify_all()
                await asyncio.sleep(self.every_s)
        finally:
            self._task = None

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[Snapshot]]:
        """A slot on the feed (TooManyPages when all are taken) and the snapshots as they come."""
        if self.listeners >= MAX_LIVE_PAGES:
            raise TooManyPages(f"{MAX_LIVE_PAGES} live pages are open already: close one, or reload later")
        self.listeners += 1
        if self._task is None:
            self._task = asyncio.create_task(self._run())

        # A new page waits for the next poll, never the last one's snapshot: that may be a second old, from
        # before an action the page was opened to see (an erase, a label).
        joined = self._version

        async def snapshots() -> AsyncIterator[Snapshot]:
            seen = joined
            while True:
                async with self._changed:
                    await self._changed.wait_for(lambda seen=seen: self._version != seen)  # type: ignore[misc]
                    seen, snapshot = self._version, self._snapshot
                yield snapshot

        try:
            yield snapshots()
        finally:
            self.listeners -= 1
