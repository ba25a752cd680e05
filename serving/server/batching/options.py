"""TensorFlow Serving's batching parameters, with its defaults."""

import dataclasses
import os

# TensorFlow Serving's SharedBatchScheduler defaults.
DEFAULT_MAX_BATCH_SIZE = 1000
DEFAULT_BATCH_TIMEOUT_MICROS = 0
DEFAULT_MAX_ENQUEUED_BATCHES = 10


def _default_num_batch_threads():
    # TF Serving uses port::MaxParallelism(): one thread per core.
    return os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """How concurrent Predict requests are merged into batches.

    The fields mirror TensorFlow Serving's BatchingParameters text proto.

    Args:
        max_batch_size: int. Most rows in one model call; a single request
            with more rows is INVALID_ARGUMENT.
        batch_timeout_micros: int. How long an open batch waits for more
            requests once a batch thread is free. 0: run what is there.
        num_batch_threads: int. Batches that run concurrently.
        max_enqueued_batches: int. Batches (open or waiting for a thread)
            per queue; one more is UNAVAILABLE ("queue ... is full").
        allowed_batch_sizes: tuple[int, ...]. If set, a batch is padded up
            to the next allowed size (by repeating its first row) and the
            padding sliced off the outputs. Increasing; the last entry
            must equal max_batch_size.
        pad_variable_length_inputs: bool. If True, requests whose inputs
            differ in non-batch dimensions share a batch, padded to the
            largest size with each request's first element (as TF Serving
            does); if False they go in separate batches.
        enable_large_batch_splitting: bool. If True, a request is split to
            fill the open batch and then new batches of at most
            max_execution_batch_size rows, and its rows are joined back;
            max_batch_size then bounds one request, not one batch.
        max_execution_batch_size: int | None. Most rows in one model call
            when splitting; None: max_batch_size. At most max_batch_size.

    Example:

    ```python
    options = BatchingOptions(max_batch_size=32, batch_timeout_micros=2000,
                              allowed_batch_sizes=(8, 16, 32))
    PredictionService(manager, batching_options=options)
    ```
    """

    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    batch_timeout_micros: int = DEFAULT_BATCH_TIMEOUT_MICROS
    num_batch_threads: int = dataclasses.field(
        default_factory=_default_num_batch_threads
    )
    max_enqueued_batches: int = DEFAULT_MAX_ENQUEUED_BATCHES
    allowed_batch_sizes: tuple = ()
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = False
    max_execution_batch_size: int | None = None

    def __post_init__(self):
        # A list from a parsed config is accepted; keep the dataclass frozen.
        object.__setattr__(
            self, "allowed_batch_sizes", tuple(self.allowed_batch_sizes)
        )
        for name in (
            "max_batch_size",
            "num_batch_threads",
            "max_enqueued_batches",
        ):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"BatchingOptions.{name} must be at least 1, got "
                    f"{getattr(self, name)}."
                )
        if self.batch_timeout_micros < 0:
            raise ValueError(
                "BatchingOptions.batch_timeout_micros must be >= 0, got "
                f"{self.batch_timeout_micros}."
            )
        self._check_allowed_batch_sizes()
        self._check_max_execution_batch_size()

    @property
    def batch_size_limit(self):
        """Most rows in one batch (one model call, before padding)."""
        if self.enable_large_batch_splitting:
            return self.max_execution_batch_size or self.max_batch_size
        return self.max_batch_size

    def _check_max_execution_batch_size(self):
        size = self.max_execution_batch_size
        if size is not None and not 1 <= size <= self.max_batch_size:
            raise ValueError(
                "max_execution_batch_size must be between 1 and "
                f"max_batch_size ({self.max_batch_size}), got {size}."
            )

    def _check_allowed_batch_sizes(self):
        sizes = self.allowed_batch_sizes
        if not sizes:
            return
        increasing = all(
            a < b for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        if sizes[0] < 1 or not increasing:
            raise ValueError(
                "allowed_batch_sizes must be positive and strictly "
                f"increasing, got {list(sizes)}."
            )
        if sizes[-1] != self.max_batch_size:
            raise ValueError(
                f"The last entry of allowed_batch_sizes ({sizes[-1]}) must "
                f"equal max_batch_size ({self.max_batch_size})."
            )

    def padded_size(self, size):
        """The batch size a batch of `size` rows is run at."""
        for allowed in self.allowed_batch_sizes:
            if allowed >= size:
                return allowed
        return size


def options_from_parameters(parameters):
    """BatchingOptions from a BatchingParameters text proto message.

    Unset fields keep TensorFlow Serving's defaults; max_execution_batch_size
    is read only with enable_large_batch_splitting, as TensorFlow Serving's
    GetQueueOptions does.
    """
    scalars = (
        "max_batch_size",
        "batch_timeout_micros",
        "num_batch_threads",
        "max_enqueued_batches",
    )
    splitting = parameters.enable_large_batch_splitting.value
    return BatchingOptions(
        **{
            field: getattr(parameters, field).value
            for field in scalars
            if parameters.HasField(field)
        },
        allowed_batch_sizes=tuple(parameters.allowed_batch_sizes),
        pad_variable_length_inputs=parameters.pad_variable_length_inputs,
        enable_large_batch_splitting=splitting,
        max_execution_batch_size=(
            parameters.max_execution_batch_size.value
            if splitting and parameters.HasField("max_execution_batch_size")
            else None
        ),
    )
