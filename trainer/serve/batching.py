"""Dynamic batching: the inputs of requests that arrive together are answered by one forward pass.

A request's inputs join a queue; one thread takes the first request waiting, gathers whatever else arrives within
`max_wait_s` (until `max_batch` inputs), runs `run(all inputs)` once and hands each request its own results. With
batching off, each request runs `run(its inputs)` alone, one at a time: the same code, so the benchmark
(benchmarks/serve_batching.py) compares like with like. An input `run` refuses (a text too long to cut, say) comes
back as an Exception in its place and fails only its own request.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from starlette.concurrency import run_in_threadpool

Item = TypeVar("Item")
DEFAULT_MAX_BATCH = 32
DEFAULT_MAX_WAIT_MS = 5.0


class BatchObserver(Protocol):
    def queued(self, change: int) -> None: ...

    def batch(self, requests: int, inputs: int) -> None: ...


@dataclass
class _Request(Generic[Item]):
    items: list[Item]
    future: Future[list[Any]] = field(default_factory=Future)


_STOP: Any = object()


class Batcher(Generic[Item]):
    """Answers lists of items through `run(items) -> results` (one result, or an Exception, per item)."""

    def __init__(
        self,
        run: Callable[[list[Item]], list[Any]],
        observer: BatchObserver | None = None,
        enabled: bool = True,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_wait_s: float = DEFAULT_MAX_WAIT_MS / 1000,
    ):
        self.run, self.observer = run, observer
        self.configure(enabled, max_batch, max_wait_s)
        self._queue: queue.Queue[_Request[Item]] = queue.Queue()
        self._alone = threading.Lock()  # batching off: one request's forward pass at a time
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def configure(self, enabled: bool, max_batch: int, max_wait_s: float) -> None:
        """Set how requests are gathered (before the server answers its first request)."""
        self.enabled, self.max_batch, self.max_wait_s = enabled, max(1, max_batch), max(0.0, max_wait_s)

    async def answer(self, items: list[Item]) -> list[Any]:
        """The results of `items` (raising the first Exception among them), from the event loop."""
        if not self.enabled:
            return await run_in_threadpool(self._answer_alone, items)
        request: _Request[Item] = _Request(list(items))
        self._ensure_thread()
        self._note_queued(1)
        self._queue.put(request)
        return await asyncio.wrap_future(request.future)

    def close(self) -> None:
        """Stop the gathering thread (requests still queued are answered first)."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
            self._thread = None

    def _answer_alone(self, items: list[Item]) -> list[Any]:
        request: _Request[Item] = _Request(list(items))
        with self._alone:
            self._run_together([request])
        return request.future.result()

    def _ensure_thread(self) -> None:
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._gather, name="batcher", daemon=True)
                self._thread.start()

    def _gather(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            self._note_queued(-1)
            gathered, count, stop = [first], len(first.items), False
            deadline = time.monotonic() + self.max_wait_s
            while count < self.max_batch:
                try:
                    remaining = deadline - time.monotonic()
                    following = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if following is _STOP:
                    stop = True
                    break
                self._note_queued(-1)
                gathered.append(following)
                count += len(following.items)
            self._run_together(gathered)
            if stop:
                return

    def _run_together(self, requests: list[_Request[Item]]) -> None:
        items = [item for request in requests for item in request.items]
        if self.observer is not None:
            self.observer.batch(len(requests), len(items))
        try:
            results = self.run(items)
        except Exception as error:  # the whole pass failed: every request in it gets the error
            for request in requests:
                request.future.set_exception(error)
            return
        start = 0
        for request in requests:
            mine = results[start : start + len(request.items)]
            start += len(request.items)
            refused = next((result for result in mine if isinstance(result, Exception)), None)
            if refused is not None:
                request.future.set_exception(refused)
            else:
                request.future.set_result(mine)

    def _note_queued(self, change: int) -> None:
        if self.observer is not None:
            self.observer.queued(change)
