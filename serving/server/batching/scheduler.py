"""Queues of tasks that batch threads take whole batches from.

The shape of TensorFlow Serving's SharedBatchScheduler: one queue per key
(requests that may share a model call), each a FIFO of batches whose last
one is open for more tasks. A task that does not fit the open batch opens
a new one, unless the queue already holds `max_enqueued_batches`, which is
UNAVAILABLE. A batch thread takes the oldest batch that is closed, full,
or open for `batch_timeout_micros`; a batch being run no longer counts
against the queue.

With large batch splitting, a task that does not fit the open batch is
split, as TensorFlow Serving's SplitInputTask does: its first rows fill
the open batch and the rest go to new batches of at most
max_execution_batch_size rows.
"""

import collections
import threading
import time

from serving.server import errors

_QUEUE_FULL = (
    "The batch scheduling queue to which this task was submitted is full"
)


class Task:
    """One request's rows, waiting to be run as part of a batch.

    Args:
        inputs: dict[str, np.ndarray]. Arrays sharing dim 0 (= `size`).
        size: int. Rows in this task.
        compute: callable. Runs merged inputs: dict -> dict of arrays.
        labels: (model_name, signature_name). Reported with each batch.
    """

    def __init__(self, inputs, size, compute, labels):
        self.inputs = inputs
        self.size = size
        self.compute = compute
        self.labels = labels
        self.outputs = None
        self.error = None
        self.done = threading.Event()
        self.batch = None  # set while the task waits in a queue

    def finish(self, outputs):
        self.outputs = outputs
        self.done.set()

    def fail(self, error):
        self.error = error
        self.done.set()

    def split(self, sizes):
        """The tasks holding this task's rows, `sizes[i]` rows each."""
        parts, start = [], 0
        for size in sizes:
            inputs = {
                name: array[start : start + size]
                for name, array in self.inputs.items()
            }
            parts.append(Task(inputs, size, self.compute, self.labels))
            start += size
        return parts


class Batch:
    """Tasks that run together in one model call.

    Args:
        key: hashable. The queue it belongs to.
        opened_at: float. `time.monotonic()` when it was opened.
        options: BatchingOptions. Its queue's options.
    """

    def __init__(self, key, opened_at, options):
        self.key = key
        self.opened_at = opened_at
        self.options = options
        self.tasks = []
        self.size = 0

    def is_due(self, now):
        """Full, or open for the queue's batch_timeout_micros."""
        options = self.options
        return self.size >= options.batch_size_limit or now >= self.due_at()

    def due_at(self):
        return self.opened_at + self.options.batch_timeout_micros / 1e6

    def add(self, task):
        self.tasks.append(task)
        self.size += task.size
        task.batch = self

    def remove(self, task):
        self.tasks.remove(task)
        self.size -= task.size
        task.batch = None


class Scheduler:
    """Forms batches per key and runs them on `num_batch_threads` threads.

    Args:
        options: BatchingOptions. The thread count, and the queue options
            of tasks scheduled without their own.
        process_batch: callable(Batch). Runs a batch and completes its
            tasks; called on a batch thread, must not raise.
    """

    def __init__(self, options, process_batch):
        self._options = options
        self._process_batch = process_batch
        self._condition = threading.Condition()
        self._queues = {}
        self._closed = False
        self._threads = [
            threading.Thread(
                target=self._run_batches, name=f"batch-thread-{i}", daemon=True
            )
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def schedule(self, key, task, options=None):
        """Adds a task to its key's queue; returns the tasks enqueued.

        That is `[task]`, unless large batch splitting split it (see the
        module docstring): then its parts, in row order.

        Args:
            key: hashable. Tasks with equal keys share batches.
            task: Task.
            options: BatchingOptions | None. The queue's options (batch
                sizes, timeout, queue length, splitting, padding); None:
                the scheduler's. Every task of a key must pass the same.

        Raises:
            ServingError: INVALID_ARGUMENT for a task above max_batch_size,
                UNAVAILABLE if the queue is full or the scheduler closed.
        """
        options = options or self._options
        limit = options.max_batch_size
        if task.size > limit:
            raise errors.invalid_argument(
                f"Task size {task.size} is larger than maximum input batch "
                f"size {limit}"
            )
        with self._condition:
            if self._closed:
                raise errors.unavailable("The batch scheduler is shut down")
            queue = self._queues.get(key) or collections.deque()
            sizes, new_batches = _part_sizes(queue, task.size, options)
            if len(queue) + new_batches > options.max_enqueued_batches:
                raise errors.unavailable(_QUEUE_FULL)
            parts = [task] if len(sizes) == 1 else task.split(sizes)
            limit = options.batch_size_limit
            for part in parts:
                if not queue or queue[-1].size + part.size > limit:
                    queue.append(Batch(key, time.monotonic(), options))
                queue[-1].add(part)
            self._queues[key] = queue
            self._condition.notify(len(parts))
            return parts

    def cancel(self, task):
        """Removes a task not yet taken by a batch thread; True if it was."""
        with self._condition:
            batch = task.batch
            if batch is None:
                return False
            batch.remove(task)
            if not batch.tasks:
                self._drop(batch)
            return True

    def num_enqueued_tasks(self):
        """Tasks waiting in queues (not yet taken by a batch thread)."""
        with self._condition:
            return sum(
                len(batch.tasks)
                for queue in self._queues.values()
                for batch in queue
            )

    def close(self):
        """Stops accepting tasks, runs those already queued, joins threads."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        for thread in self._threads:
            thread.join()

    def _run_batches(self):
        while True:
            with self._condition:
                batch = self._wait_for_batch()
            if batch is None:
                return
            self._process_batch(batch)

    def _wait_for_batch(self):
        while True:
            batch, wait = self._take_ready_batch(time.monotonic())
            if batch is not None or (self._closed and not self._queues):
                return batch
            self._condition.wait(wait)

    def _take_ready_batch(self, now):
        ready, wait = None, None
        for queue in self._queues.values():
            first = queue[0]
            due = first.due_at()
            closed = len(queue) > 1 or self._closed
            if closed or first.is_due(now):
                if ready is None or first.opened_at < ready.opened_at:
                    ready = first
            else:
                wait = due - now if wait is None else min(wait, due - now)
        if ready is not None:
            self._drop(ready)
            for task in ready.tasks:
                task.batch = None
        return ready, wait

    def _drop(self, batch):
        queue = self._queues[batch.key]
        queue.remove(batch)
        if not queue:
            del self._queues[batch.key]


def _part_sizes(queue, size, options):
    """(rows of each part a task of `size` rows goes in, batches added)."""
    limit = options.batch_size_limit
    space = limit - queue[-1].size if queue else 0
    if size <= space:
        return [size], 0
    if not options.enable_large_batch_splitting:
        return [size], 1
    sizes = [space] if space else []
    remaining = size - space
    while remaining:
        sizes.append(min(remaining, limit))
        remaining -= sizes[-1]
    return sizes, len(sizes) - bool(space)
