"""Server-side dynamic batching of concurrent requests to one signature.

Requests with the same key (servable, signature, selected outputs) and
compatible input shapes are merged along dim 0, run once, and each gets
its own rows back, so a batched answer equals the unbatched one for any
model whose rows do not interact.
"""

import logging

from serving.server import deadlines
from serving.server import errors
from serving.server.batching import merge
from serving.server.batching.scheduler import Scheduler
from serving.server.batching.scheduler import Task

logger = logging.getLogger(__name__)


class Batcher:
    """Merges concurrent calls into batches run on batch threads.

    Args:
        options: BatchingOptions.
        on_batch: optional callable(model_name, signature_name,
            batch_size), called on the batch thread before each model call
            with the size it runs at (after allowed_batch_sizes padding).
            Meant for metrics; its exceptions are logged and ignored.

    Example:

    ```python
    batcher = Batcher(BatchingOptions(max_batch_size=8))
    outputs = batcher.run(key, {"x": x}, compute, ("toy", "serving_default"))
    batcher.close()
    ```
    """

    def __init__(self, options, on_batch=None):
        self.options = options
        self._on_batch = on_batch
        self._scheduler = Scheduler(options, self._process_batch)

    def run(self, key, inputs, compute, labels, deadline=None, options=None):
        """Runs `compute` on `inputs` as part of a batch; returns its rows.

        Args:
            key: hashable. Calls with equal keys may share a batch.
            inputs: dict[str, np.ndarray]. Batchable (see `can_batch`).
            compute: callable(dict[str, np.ndarray]) -> dict of arrays,
                each with the merged batch size as dim 0.
            labels: (model_name, signature_name) for `on_batch`.
            deadline: float | None. A `time.monotonic()` deadline.
            options: BatchingOptions | None. This key's own queue options
                (a model's batching_params.pbtxt); None: the batcher's.

        Returns:
            dict[str, np.ndarray]: this call's rows of each output.

        Raises:
            ServingError: INVALID_ARGUMENT above max_batch_size, UNAVAILABLE
                for a full queue, DEADLINE_EXCEEDED if the deadline passes
                first; or the error the batch's model call raised.
        """
        options = options or self.options
        task = Task(inputs, merge.task_size(inputs), compute, labels)
        pad = options.pad_variable_length_inputs
        shapes = merge.shape_key(inputs, pad)
        parts = self._scheduler.schedule((key, shapes), task, options)
        for part in parts:
            if not part.done.wait(deadlines.remaining(deadline)):
                # Dropped from their batches if not yet running; either
                # way the client has gone, so nobody waits for the rows.
                for queued in parts:
                    self._scheduler.cancel(queued)
                raise errors.deadline_exceeded()
        for part in parts:
            if part.error is not None:
                raise part.error
        return merge.join([part.outputs for part in parts])

    @staticmethod
    def can_batch(inputs):
        """Whether the inputs share a non-zero dim 0 that can be merged."""
        return merge.task_size(inputs) is not None

    def num_enqueued_tasks(self):
        """Calls waiting for a batch thread (for tests and metrics)."""
        return self._scheduler.num_enqueued_tasks()

    def close(self):
        """Runs the calls already queued, then stops the batch threads."""
        self._scheduler.close()

    def _process_batch(self, batch):
        tasks = batch.tasks
        try:
            sizes = [task.size for task in tasks]
            batch_size = batch.options.padded_size(sum(sizes))
            inputs = merge.merge(
                [task.inputs for task in tasks],
                batch_size,
                batch.options.pad_variable_length_inputs,
            )
            self._report(tasks[0].labels, batch_size)
            outputs = tasks[0].compute(inputs)
            rows = merge.split(outputs, sizes, batch_size)
            for task, task_rows in zip(tasks, rows, strict=True):
                task.finish(task_rows)
        except Exception as error:  # every waiting request gets the error
            for task in tasks:
                task.fail(error)

    def _report(self, labels, batch_size):
        if self._on_batch is None:
            return
        try:
            self._on_batch(*labels, batch_size)
        except Exception:
            logger.exception("on_batch callback failed")
