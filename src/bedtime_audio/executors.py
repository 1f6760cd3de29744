"""Where the units of a render run: in threads of this process, or on a Dask cluster.

A unit is a module-level function and picklable arguments that reads what it needs from the
caches and writes its result into them: speak one sentence into the line cache, mix one section
into the chapter cache, encode a stretch into the encoded store. Each result is named by
everything it was made from and written atomically, so a unit run twice (its worker killed
half-way and the unit run again elsewhere) writes the same bytes: a render is the same sample
for sample wherever its units ran.

A unit may use `unit_threads` threads: the cores shared out among the units that run at once.
With --jobs 1 on two cores, Kokoro speaks with two threads, a bed's layers are made two at a
time while the chapter's voice is placed, and two stretches are encoded side by side.

Units are run highest priority first, and in the order given within a priority: a batch render
queues every story's speech at once and gives a finished story's mixing and encoding the next
free worker, so one story is mixed while the next is spoken."""

from __future__ import annotations

import ctypes
import functools
import heapq
import itertools
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from .errors import DependencyError

T = TypeVar("T")
R = TypeVar("R")
EXECUTORS = ("local", "dask")
FINISHING = 1
"""The priority of mixing and encoding: ahead of any speech, so a story spoken is finished
while the next is spoken."""


class Executor(Protocol):
    workers: int
    unit_threads: int
    """CPU threads each unit may use: its speech engine's, its bed's."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, priority: int = 0) -> Future[Any]:
        """Queue a unit; higher priorities run first."""
        ...

    def close(self) -> None:
        """Drop the units not yet started and wait for the running ones, which stop at their
        next `stop_point` where they can."""
        ...


def default_jobs() -> int:
    return os.cpu_count() or 1


@contextmanager
def open_executor(
    kind: str = "local", jobs: int | None = None, scheduler: str | None = None
) -> Iterator[Executor]:
    """The executor for `--executor kind --jobs N [--scheduler address]`, closed on leaving
    (Ctrl-C included: units not yet started are dropped)."""
    jobs = jobs or default_jobs()
    executor: Executor = DaskExecutor(jobs, scheduler) if kind == "dask" else LocalExecutor(jobs)
    try:
        yield executor
    finally:
        executor.close()


class LocalExecutor:
    """Units in `workers` threads of this process. numpy, scipy, ONNX Runtime and ffmpeg do the
    work with the interpreter let go, so threads keep the cores as busy as processes would,
    and they share one copy of the speech model and of the program: a Kokoro render with two
    jobs holds one model, not two. Nothing can outlive the render's process. On leaving, a
    running unit stops at its next block (see `stop_point`)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.unit_threads = max(1, default_jobs() // workers)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="bedtime-unit")
        self._stopping = threading.Event()
        self._queue: list[tuple[int, int, Future[Any], Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._running = 0
        self._closed = False
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, priority: int = 0) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            heapq.heappush(self._queue, (-priority, next(self._order), future, fn, args))
        self._feed()
        return future

    def _feed(self) -> None:
        """Hand the pool the most urgent units, no more than it has workers: the rest wait in
        the queue, where a more urgent unit can still pass them."""
        while True:
            with self._lock:
                if self._closed or self._running >= self.workers or not self._queue:
                    return
                _priority, _order, future, fn, args = heapq.heappop(self._queue)
                if not future.set_running_or_notify_cancel():
                    continue
                self._running += 1
            unit = self._pool.submit(_unit, self._stopping, fn, *args)
            unit.add_done_callback(functools.partial(self._done, future))

    def _done(self, outer: Future[Any], inner: Future[Any]) -> None:
        with self._lock:
            self._running -= 1
        if inner.cancelled():
            outer.set_exception(InterruptedError("the render stopped before this unit ran"))
        elif (error := inner.exception()) is not None:
            outer.set_exception(error)
        else:
            outer.set_result(inner.result())
        self._feed()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            queued, self._queue = self._queue, []
        for _priority, _order, future, _fn, _args in queued:
            future.cancel()
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


_stopping = threading.local()
"""In a LocalExecutor's thread: the event set when its executor closes."""


def _unit(stopping: threading.Event, fn: Callable[..., R], *args: Any) -> R:
    _stopping.event = stopping
    return fn(*args)


def stop_point() -> None:
    """Where a long unit (a section's mix, a block at a time) may stop: it raises
    InterruptedError once the render is leaving, after Ctrl-C or another unit's error, so that
    the render does not wait for the unit to finish. Elsewhere (a Dask worker) it does nothing:
    the cluster cancels its own."""
    event = getattr(_stopping, "event", None)
    if event is not None and event.is_set():
        raise InterruptedError("the render stopped")


class DaskExecutor:
    """Units on a Dask cluster: a LocalCluster of `workers` single-threaded processes, or the
    cluster whose scheduler listens at `scheduler` (tcp://host:port). Dask runs a unit again
    elsewhere when its worker dies."""

    def __init__(self, workers: int, scheduler: str | None = None) -> None:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise DependencyError(
                "--executor dask needs Dask's distributed scheduler: "
                "pip install 'bedtime-audio[distributed]'"
            ) from None
        self._cluster = None
        if scheduler is None:
            # eSpeak NG speaks in a child process: workers, and those restarted after one dies,
            # must be allowed children
            dask.config.set({"distributed.worker.daemon": False})
            # Ctrl-C is the render's to handle: it closes the cluster. Workers started with
            # SIGINT ignored keep it ignored, and print no traceback of their own.
            interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                self._cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
            finally:
                signal.signal(signal.SIGINT, interrupt)
            self.client = Client(self._cluster)
        else:
            try:
                self.client = Client(scheduler, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise DependencyError(f"no Dask scheduler answers at {scheduler}: {exc}") from None
        self.workers = max(1, len(self.client.scheduler_info()["workers"]))
        self.unit_threads = 1
        self._held: set[Any] = set()
        """Dask forgets a task whose future is dropped: held until each finishes."""
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, priority: int = 0) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        task = self.client.submit(fn, *args, priority=priority, pure=False)
        with self._lock:
            self._held.add(task)
        task.add_done_callback(functools.partial(self._relay, future))
        return future

    def _relay(self, future: Future[Any], task: Any) -> None:
        with self._lock:
            self._held.discard(task)
        try:
            future.set_result(task.result())
        except BaseException as exc:  # the unit's own error, or the cluster's
            future.set_exception(exc)

    def close(self) -> None:
        with self._lock:
            held, self._held = list(self._held), set()
        if held:
            self.client.cancel(held)
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def threaded_map(fn: Callable[[T], R], items: Iterable[T], threads: int) -> Iterator[R]:
    """fn of each item, in order, made in up to `threads` threads at once (numpy and scipy let
    go of the interpreter while they work), never more than `threads` ahead of the reader."""
    if threads <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(threads) as pool:
        ahead: deque[Future[R]] = deque()
        for item in items:
            ahead.append(pool.submit(fn, item))
            if len(ahead) >= threads:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def ahead(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """The items, made in a thread of their own up to `depth` ahead of the reader."""
    with ThreadPoolExecutor(1) as pool:  # one thread: the items are made in order
        coming = deque(pool.submit(next, items, None) for _ in range(depth))
        while (item := coming.popleft().result()) is not None:
            coming.append(pool.submit(next, items, None))
            yield item


_MMAP_THRESHOLD = 1 << 20


def return_large_buffers() -> None:
    """Take buffers of a megabyte and more straight from the system, and give them back when
    freed, in this process and the workers it starts. Otherwise glibc raises its threshold to
    the size of the buffers freed, keeps chapter-sized buffers in its heap, fragmented, and a
    long render's memory creeps up with every chapter it mixes."""
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(_MMAP_THRESHOLD))
    try:
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    except (OSError, AttributeError):  # not glibc: its own allocator's ways
        pass


_M_MMAP_THRESHOLD = -3
"""mallopt's parameter, from glibc's malloc.h."""
