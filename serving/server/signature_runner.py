"""Running a servable's signature, batched with concurrent calls or not.

TensorFlow Serving batches at the session: every Session::Run on the same
feeds and fetches may be merged, whichever RPC asked for it. So here
Predict, Classify, Regress and MultiInference all run their signatures
through one `SignatureRunner`, and concurrent calls of one signature
fetching the same outputs share batches, a Classify and a Predict of a
classify signature included.

A call is merged only if every input it sends has a free dim 0 in the
signature and the shape the signature records, so that a request the
graph rejects cannot fail the requests batched with it; others run on
their own. A servable loaded with --enable_per_model_batching_parameters
batches with its own batching_params.pbtxt, or not at all without one
(`Servable.batching`).
"""

from serving.server import inputs
from serving.server.batching import Batcher


class SignatureRunner:
    """Runs signatures, merging concurrent calls when batching is on.

    Args:
        batching_options: BatchingOptions | None. None: every call runs on
            its own.
        on_batch: optional callable(model_name, signature_name, batch_size)
            called before each batched model call (see `Batcher`).

    Example:

    ```python
    runner = SignatureRunner(BatchingOptions(max_batch_size=32))
    outputs = runner.run(servable, "serving_default", {"x": x}, ("y",))
    runner.close()
    ```
    """

    def __init__(self, batching_options=None, on_batch=None):
        self._batcher = (
            Batcher(batching_options, on_batch) if batching_options else None
        )

    def run(self, servable, signature_name, feeds, output_names, deadline=None):
        """Runs one signature call; returns its outputs.

        Args:
            servable: Servable. The version that answers.
            signature_name: str. A key of `servable.signatures`.
            feeds: dict[str, np.ndarray]. Decoded inputs (inputs with a
                default may be left out).
            output_names: tuple[str, ...]. The outputs to return.
            deadline: float | None. `time.monotonic()` time after which the
                client no longer waits.

        Returns:
            dict[str, np.ndarray], the outputs in `output_names`.

        Raises:
            ServingError: from batching (queue full, deadline, too large).
            tf.errors.OpError: if the model fails.
        """
        signature = servable.signatures[signature_name]

        def compute(merged_feeds):
            return signature.run(merged_feeds, output_names)

        batching = servable.batching
        if (
            self._batcher is None
            or batching is False
            or not _can_batch(signature, feeds)
        ):
            return compute(feeds)
        # Servables are compared by identity: a reloaded version is new.
        key = (id(servable), signature_name, output_names)
        labels = (servable.name, signature_name)
        return self._batcher.run(
            key, feeds, compute, labels, deadline, batching
        )

    def num_enqueued_tasks(self):
        """Calls waiting for a batch thread (0 without batching)."""
        return self._batcher.num_enqueued_tasks() if self._batcher else 0

    def close(self):
        """Finishes queued batches and stops the batch threads."""
        if self._batcher is not None:
            self._batcher.close()


def _can_batch(signature, feeds):
    specs = signature.input_specs
    return (
        bool(feeds)
        and all(
            specs[name].shape.rank
            and specs[name].shape[0] is None
            and inputs.fits_shape(specs[name].shape, array.shape)
            for name, array in feeds.items()
        )
        and Batcher.can_batch(feeds)
    )
