"""Training on several devices or machines: the strategy, who writes what,
and how the input is split.

`TrainConfig.strategy` picks a `tf.distribute` strategy. Several machines
train with `MultiWorkerMirroredStrategy`: each runs the same command, and
`TF_CONFIG` (set by Kubernetes, Vertex AI or a Slurm launcher) tells it
the cluster and which member it is. Every worker holds a full copy of the
model; each step, each worker trains on its own part of the global batch
and the gradients are all-reduced, so the copies stay identical. The
chief (the `chief` task, else worker 0) alone writes files.
"""

import dataclasses
import json
import logging
import os
import secrets
import shutil
import tempfile

import tensorflow as tf

from mmkeras.training.callbacks import ResumableBackup

logger = logging.getLogger(__name__)

STRATEGIES = ("auto", "none", "mirrored", "multi-worker")
# The TF_CONFIG jobs whose tasks train (an "evaluator" would not).
TRAINING_JOBS = ("chief", "worker")
DATA_SERVICE_SCHEME = "grpc://"


def cluster_size(tf_config=None):
    """How many training tasks (`chief` + `worker`) `TF_CONFIG` names.

    Args:
        tf_config: str or None. The JSON of `TF_CONFIG`; None reads the
            environment variable (absent: 0).

    Example:
    >>> cluster_size('{"cluster": {"worker": ["a:1", "b:1"]}}')
    2
    >>> cluster_size("")
    0
    """
    if tf_config is None:
        tf_config = os.environ.get("TF_CONFIG", "")
    if not tf_config:
        return 0
    cluster = _parse_tf_config(tf_config).get("cluster", {})
    return sum(len(cluster.get(job, ())) for job in TRAINING_JOBS)


def is_chief_task(tf_config=None):
    """Whether this process is the chief of `TF_CONFIG`'s cluster: the
    `chief` task if there is one, else worker 0 (TensorFlow's rule). A
    process without `TF_CONFIG` is its own chief.

    Example:
    >>> config = {"cluster": {"worker": ["a:1", "b:1"]}}
    >>> config["task"] = {"type": "worker", "index": 1}
    >>> is_chief_task(json.dumps(config))
    False
    """
    if tf_config is None:
        tf_config = os.environ.get("TF_CONFIG", "")
    if not tf_config:
        return True
    config = _parse_tf_config(tf_config)
    task = config.get("task", {})
    task_type, index = task.get("type", "worker"), int(task.get("index", 0))
    if task_type == "chief":
        return True
    has_chief = bool(config.get("cluster", {}).get("chief"))
    return task_type == "worker" and index == 0 and not has_chief


def _parse_tf_config(tf_config):
    try:
        return json.loads(tf_config)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"TF_CONFIG is not JSON ({error}): {tf_config[:200]!r}. See "
            "README 'Training on several machines' for its form."
        ) from None


@dataclasses.dataclass(frozen=True)
class Distribution:
    """A strategy and this process's place in it.

    Args:
        strategy: `tf.distribute.Strategy`. Build and compile the task in
            its `scope()`.
        num_workers: int. Machines (processes) training together.
        is_chief: bool. Whether this process writes the files.
    """

    strategy: tf.distribute.Strategy
    num_workers: int = 1
    is_chief: bool = True

    @property
    def multi_worker(self):
        return self.num_workers > 1

    def global_batch_size(self, batch_size):
        """The batch of one step across the cluster, for `batch_size`
        examples per worker (split further among a worker's devices)."""
        return batch_size * self.num_workers

    def barrier(self):
        """Returns once every worker has called it: the chief's files are
        written before any worker exits (a worker that exits early makes
        the others' collective ops fail)."""
        if self.multi_worker:
            self.strategy.reduce("SUM", tf.constant(0.0), axis=None)

    def shared_name(self, prefix):
        """`prefix` and a number that every worker gets the same and that
        differs from run to run (the chief draws it; a sum shares it)."""
        number = secrets.randbits(31) if self.is_chief else 0
        if self.multi_worker:
            total = self.strategy.reduce(
                "SUM", tf.constant(number, tf.int64), axis=None
            )
            number = int(total)
        return f"{prefix}-{number}"

    def shard(self, dataset):
        """`dataset` (batched by the global batch size), set to be split
        among the workers.

        DATA sharding, on purpose: tf.distribute splits every global
        batch into one part per worker (worker i keeps part i), so a step
        trains on exactly the examples one process with the global batch
        would, in the same order. AUTO would first try FILE sharding,
        which our in-memory record lists (paths and texts in a tensor,
        no reader op) cannot use, and which fails when a packed data set
        has fewer files than there are workers. The price: each worker
        reads and preprocesses every example and drops the others' parts
        (input work does not shrink with more workers; `data_service`
        moves it off the trainers). DATA needs the same element order on
        every worker: the caller builds the pipeline in order and shuffles
        with the shared seed.
        """
        if not self.multi_worker:
            return dataset
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return dataset.with_options(options)


def resolve_strategy(name="auto"):
    """The `Distribution` for `TrainConfig.strategy`.

    - "none": TensorFlow's default strategy (one device).
    - "mirrored": `MirroredStrategy`, every GPU of this machine.
    - "multi-worker": `MultiWorkerMirroredStrategy` over the cluster in
      `TF_CONFIG` (every GPU of every worker); it waits for all workers.
    - "auto": "multi-worker" when `TF_CONFIG` names more than one
      training task, else "none".

    Create it before any other TensorFlow work of the process: the
    multi-worker strategy starts this worker's server.
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"strategy must be one of {STRATEGIES}, received {name!r}."
        )
    if name == "auto":
        name = "multi-worker" if cluster_size() > 1 else "none"
    if name == "none":
        return Distribution(tf.distribute.get_strategy())
    if name == "mirrored":
        return Distribution(tf.distribute.MirroredStrategy())
    tasks = cluster_size()
    if tasks and _task_type() not in TRAINING_JOBS:
        raise ValueError(
            f"TF_CONFIG's task is a {_task_type()!r}; mmkeras trains on "
            f"{' and '.join(TRAINING_JOBS)} tasks only."
        )
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    logger.info(
        "multi-worker training: %d workers, %d replicas in sync, %s",
        max(tasks, 1),
        strategy.num_replicas_in_sync,
        "chief" if is_chief_task() else "not the chief",
    )
    return Distribution(strategy, max(tasks, 1), is_chief_task())


def _task_type():
    config = _parse_tf_config(os.environ["TF_CONFIG"])
    return config.get("task", {}).get("type", "worker")


def serve_input(dataset, data_service, job_name=None):
    """`dataset`, produced by the tf.data service at `data_service`.

    The pipeline (file reads, decoding, preprocessing, batching) runs on
    the service's workers, which may be many machines; the trainer only
    receives batches. Use it when the input pipeline, not the model, is
    the bottleneck.

    processing_mode="distributed_epoch": the dispatcher hands the
    source's elements (records or files) out to the service workers, so
    each pass over the data shows every example once, however many
    service workers run, and training keeps the local pipeline's steps
    per epoch and learning-rate schedule (each service worker may end a
    pass with one smaller batch). "parallel_epochs" would have every
    service worker produce whole passes: with k workers, an epoch would
    show each example k times. Our sources (record lists, packed TFRecord
    files) can be split, as distributed_epoch needs.

    The result repeats without end, so that the whole training is one
    service job: a job runs the pipeline from scratch, so a job per epoch
    would repeat the first epoch's seeded shuffle in every epoch. Pass
    `steps_per_epoch` (the local pipeline's batches per epoch) to `fit`.

    Several training workers pass one `job_name` and share the job: each
    receives different global batches (tf.data then turns auto-sharding
    off for the dataset), which tf.distribute cuts into pieces of the
    per-replica size, one per replica and step, so a step still trains
    on the global batch size.

    The service workers run the pipeline's graph: they need the data
    files at the same paths, TensorFlow Text's ops (`import
    tensorflow_text`, as `data_service_worker` does), and no Python
    functions (video clip files are decoded by one; use frame folders or
    a packed data set).

    Args:
        dataset: tf.data.Dataset, batched by the global batch size.
        data_service: str. The dispatcher, "grpc://host:port".
        job_name: str or None. Trainers that pass the same name share one
            job; it must be new for every training run (see
            `Distribution.shared_name`). None: a job of its own.
    """
    if not data_service.startswith(DATA_SERVICE_SCHEME):
        raise ValueError(
            f"data_service must be a dispatcher address "
            f"'{DATA_SERVICE_SCHEME}host:port', received {data_service!r}."
        )
    return dataset.repeat().apply(
        tf.data.experimental.service.distribute(
            processing_mode="distributed_epoch",
            service=data_service,
            job_name=job_name,
        )
    )


def data_service_dispatcher(port=0):
    """A tf.data service dispatcher, started; its `target` is what
    `TrainConfig.data_service` takes.

    Args:
        port: int. 0 picks a free port.
    """
    service = tf.data.experimental.service
    return service.DispatchServer(service.DispatcherConfig(port=port))


def data_service_worker(dispatcher, port=0, address=None):
    """A tf.data service worker that can run mmkeras pipelines, started.

    Args:
        dispatcher: str. The dispatcher, "host:port" (or its `target`).
        port: int. 0 picks a free port.
        address: str or None. The host (or "host:port") at which trainers
            reach this worker; None: localhost, for a worker on the
            trainer's machine.
    """
    # The text pipeline runs TensorFlow Text's tokenizer ops.
    import tensorflow_text  # noqa: F401

    if address and ":" not in address:
        address += ":%port%"  # the service fills in the bound port
    service = tf.data.experimental.service
    return service.WorkerServer(
        service.WorkerConfig(
            dispatcher_address=dispatcher.removeprefix(DATA_SERVICE_SCHEME),
            worker_address=address,
            port=port,
        )
    )


class WorkerBackupAndRestore(ResumableBackup):
    """`ResumableBackup` for one of several workers.

    Keras 3's `BackupAndRestore` has no notion of a chief: every worker
    would write the same files to `backup_dir`. Here every worker restores from
    `backup_dir` (so all resume from the same epoch and weights: put it on
    storage every worker reads), the chief alone writes there, and the
    other workers write their identical state to a temporary directory of
    their own, deleted when training ends, as TensorFlow's multi-worker
    guide does for checkpoints: every worker runs the same saving code
    (and any collective op it may contain), only the destination differs.

    Args:
        backup_dir: str. The shared backup directory.
        is_chief: bool. Whether this worker writes `backup_dir`.
        strategy: a multi-worker `tf.distribute.Strategy`, or None. With
            one, the workers check that they resume from the same epoch
            (they would otherwise wait for each other forever).
        **kwargs: `ResumableBackup`'s other arguments (`save_freq`,
            `verbose`).
    """

    def __init__(self, backup_dir, is_chief=True, strategy=None, **kwargs):
        self.shared_dir = backup_dir
        self.is_chief = is_chief
        self.strategy = strategy
        if not is_chief:
            backup_dir = tempfile.mkdtemp(prefix="mmkeras-backup-")
        super().__init__(backup_dir, **kwargs)

    def on_train_begin(self, logs=None):
        if not self.is_chief:
            _copy_files(self.shared_dir, self.backup_dir)
        super().on_train_begin(logs)
        if self.strategy is not None:
            self._check_same_epoch()

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if not self.is_chief:  # the base class deletes only when asked to
            shutil.rmtree(self.backup_dir, ignore_errors=True)

    def _check_same_epoch(self):
        # Keras' BackupAndRestore restores the epoch into _initial_epoch.
        epoch = getattr(self.model, "_initial_epoch", None) or 0
        epochs = self.strategy.gather(tf.constant([epoch]), axis=0)
        epochs = sorted(set(epochs.numpy().tolist()))
        if len(epochs) > 1:
            raise ValueError(
                f"The workers resume from different epochs {epochs}: "
                f"{self.shared_dir} is not the same directory for all of "
                "them. Put the output directory on storage every worker "
                "reads (GCS, NFS)."
            )


def _copy_files(source, destination):
    """The files directly in `source` (any tf.io.gfile path) into
    `destination`; nothing when `source` does not exist."""
    if not tf.io.gfile.isdir(source):
        return
    for name in tf.io.gfile.listdir(source):
        path = os.path.join(source, name)
        if not tf.io.gfile.isdir(path):
            tf.io.gfile.copy(
                path, os.path.join(destination, name), overwrite=True
            )
