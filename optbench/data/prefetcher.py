"""Batches made ahead by a pool of threads, in the order of their jobs: the loaders of the
full-size workloads that read their examples file by file (ImageNet's images, LibriSpeech's
utterances)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

JobT = TypeVar("JobT")
BatchT = TypeVar("BatchT")

Fill = Callable[[int, int], None]  # fills examples [start, stop) of a batch


class PoolPrefetcher(Iterator[BatchT], Generic[JobT, BatchT]):
    """The batch of each of ``jobs``, filled by :meth:`_thread_pool` in chunks of ``chunk``
    examples while the previous ``depth - 1`` batches are consumed; ``pin_memory`` is for
    :meth:`_start` to pin the tensors it allocates. A subclass says how a job becomes a batch:
    :meth:`_start` allocates it and returns it, its number of examples and its :data:`Fill`."""

    def __init__(
        self, jobs: Iterator[JobT], depth: int = 2, chunk: int = 8, pin_memory: bool = False
    ) -> None:
        self._jobs, self._depth, self._chunk, self._pin = jobs, depth, chunk, pin_memory
        self._pending: deque[tuple[BatchT, list[Future]]] = deque()
        self._exhausted = False

    def _thread_pool(self) -> ThreadPoolExecutor:
        raise NotImplementedError

    def _start(self, job: JobT) -> tuple[BatchT, int, Fill]:
        raise NotImplementedError

    def _submit(self) -> None:
        job = next(self._jobs, None)
        if job is None:
            self._exhausted = True
            return
        batch, size, fill = self._start(job)
        futures = [
            self._thread_pool().submit(fill, k, min(k + self._chunk, size))
            for k in range(0, size, self._chunk)
        ]
        self._pending.append((batch, futures))

    def __next__(self) -> BatchT:
        while not self._exhausted and len(self._pending) < self._depth:
            self._submit()
        if not self._pending:
            raise StopIteration
        batch, futures = self._pending.popleft()
        for future in futures:
            future.result()  # re-raises an error of the filling threads
        return batch
