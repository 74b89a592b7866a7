"""Micro-batching: concurrent requests to one model share a forward pass, which on a CPU or GPU costs little more
than running one image, so throughput under load rises while a lone request waits at most `max_wait_ms`."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from ocularis.deploy.outputs import rows

POLL_SECONDS = 0.0005


class MicroBatcher:
    """Runs `infer` on batches of up to `max_batch` images gathered from concurrent `submit` calls."""

    def __init__(self, infer: Callable[[torch.Tensor], Any], max_batch: int = 16, max_wait_ms: float = 5.0):
        self.infer = infer
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.queue: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None
        # One inference thread per model: batches run one after another, each using all of torch's threads.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocularis-infer")

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.worker = asyncio.create_task(self._work())

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, batch: torch.Tensor) -> Any:
        """The model's outputs for `batch` (one request's images), computed together with other requests'."""
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((batch, future))
        return await future

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.queue.get()]
            size, deadline = len(items[0][0]), loop.time() + self.max_wait
            # Polling the queue (instead of wait_for(queue.get())) never loses an item to a timeout race.
            while size < self.max_batch and loop.time() < deadline:
                if self.queue.empty():
                    await asyncio.sleep(POLL_SECONDS)
                    continue
                items.append(self.queue.get_nowait())
                size += len(items[-1][0])
            items = [(batch, future) for batch, future in items if not future.done()]  # timed-out requests left
            # Rows join only where their shapes match: a task that keeps each photo's own size (restoration)
            # sends rows of many sizes, and each size is a forward pass of its own.
            groups: dict[tuple[int, ...], list] = {}
            for item in items:
                groups.setdefault(tuple(item[0].shape[1:]), []).append(item)
            for group in groups.values():
                await self._run(loop, group)

    async def _run(self, loop: asyncio.AbstractEventLoop, items: list[tuple[torch.Tensor, asyncio.Future]]) -> None:
        try:
            outputs = await loop.run_in_executor(self.executor, self.infer, torch.cat([b for b, _ in items]))
        except Exception as error:  # the requests that shared the batch all get the error; the server goes on
            for _, future in items:
                if not future.done():
                    future.set_exception(error)
            return
        start = 0
        for batch, future in items:
            if not future.done():
                future.set_result(rows(outputs, start, start + len(batch)))
            start += len(batch)
