"""Training a task from a manifest (or a packed data set), in one call."""

import dataclasses
import json
import logging
import os
import sys

import keras
import numpy as np
import tensorflow as tf

from mmkeras.data.manifest import read_manifest
from mmkeras.data.packing import is_packed
from mmkeras.data.packing import open_packed
from mmkeras.data.pipeline import make_dataset
from mmkeras.data.pipeline import raw_dataset
from mmkeras.models.dual_encoder import DualEncoder
from mmkeras.models.presets import dual_encoder
from mmkeras.models.presets import multimodal_classifier
from mmkeras.preprocessing.vocabulary import learn_vocabulary
from mmkeras.training import keras_compat
from mmkeras.training.augmentation import augment
from mmkeras.training.distribution import WorkerBackupAndRestore
from mmkeras.training.distribution import resolve_strategy
from mmkeras.training.distribution import serve_input
from mmkeras.training.precision import resolve_precision
from mmkeras.training.retrieval import RetrievalValidation
from mmkeras.training.retrieval import read_pairs

logger = logging.getLogger(__name__)

TASK_FILE = "task.keras"
CONFIG_FILE = "config.json"
TASKS = ("classify", "retrieve")
LABEL_FIELD = "label"
# Warn when more than this fraction of training captions gets cut.
TRUNCATION_WARNING = 0.01


@dataclasses.dataclass
class TrainConfig:
    """Everything `train` needs; flat, so a CLI maps onto it one to one.

    Args:
        manifest: str. A JSONL manifest (records with modality fields, the
            task's target field and `split`) or a directory written by
            `mmkeras pack`. `train` records train; `validation` records
            drive early stopping.
        output_dir: str. Receives `task.keras`, `config.json` and the
            resumable backup.
        task: str. "classify" (labels from the `label` field) or
            "retrieve" (a `DualEncoder` on pairs of two modalities; see
            `retrieval.read_pairs`).
        modalities: tuple of str or None. None uses every modality field
            found in the manifest.
        fusion: "attention", "weighted_sum", "concat", "gated" or
            "cross_attention".
        hidden_dim, num_layers, num_heads, dropout: encoder sizes.
        image_size: int. Side of the square model input (images, frames).
        sequence_length: int. Tokens per caption.
        sample_rate: int. Audio rate the model reads; WAVs are resampled.
        clip_seconds: float. Audio length the model reads.
        num_frames: int. Video frames sampled per clip.
        modality_dropout: float. Rate at which training hides whole
            modalities, so the model copes when one is missing or wrong.
        auxiliary_loss_weight: float. Weight of each modality's own
            classification loss, which keeps every encoder learning (a
            single-modality model has no second head, so none is added).
        modality_evidence: bool. Add each modality's own head's evidence,
            weighted per example by the fusion, to the fused logits.
        stop_fusion_gradients: bool. Encoders learn from their own heads
            only; the fusion learns to combine them.
        embedding_dim: int. Retrieval: width of the shared space.
        loss: str. Retrieval: "clip" (InfoNCE) or "sigmoid" (SigLIP).
        augment: bool or None. Random shifts, noise, gain and token
            drops; None: on for classification, off for retrieval (a
            shift moves objects, a dropped word changes a caption).
        epochs, batch_size, learning_rate, weight_decay: optimisation.
            The learning rate follows a cosine decay from its peak.
        early_stopping_patience: int. Epochs without a better validation
            loss before stopping (the best weights are kept); 0 disables.
        validate: bool. Measure the validation split after every epoch
            (in the logs; early stopping needs it). Off, training is about
            15% faster.
        precision: "auto", "float32", "mixed_float16" or "mixed_bfloat16".
        seed: int. Seeds weights, shuffling and augmentation.
        skip_bad_records: bool. Skip (and list) bad manifest records
            instead of stopping at the first one.
        deterministic: bool. Make TensorFlow's ops and the input pipeline
            deterministic (process-wide), so the same config trains the
            same weights on the same machine; a little slower.
        verbose: int or None. Keras progress output: 0 silent, 1 progress
            bar, 2 one line per epoch; None picks 1 on a terminal, else 2.
        strategy: "auto", "none", "mirrored" (this machine's GPUs) or
            "multi-worker" (the machines `TF_CONFIG` names; see
            `distribution.resolve_strategy`). "auto": multi-worker when
            `TF_CONFIG` names several workers, else none. With several
            workers, `batch_size` is per worker (a step trains on
            `batch_size` x workers examples) and only the chief writes
            `output_dir`.
        data_service: str or None. A tf.data service dispatcher,
            "grpc://host:port", whose workers then read and preprocess the
            training data (see `distribution.serve_input`).
    """

    manifest: str
    output_dir: str
    task: str = "classify"
    modalities: tuple = None
    fusion: str = "attention"
    hidden_dim: int = 64
    num_layers: int = 1
    num_heads: int = 2
    dropout: float = 0.1
    image_size: int = 32
    sequence_length: int = 24
    sample_rate: int = 8000
    clip_seconds: float = 1.0
    num_frames: int = 8
    modality_dropout: float = 0.25
    auxiliary_loss_weight: float = 1.0
    modality_evidence: bool = True
    stop_fusion_gradients: bool = True
    embedding_dim: int = 64
    loss: str = "clip"
    augment: bool = None
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    early_stopping_patience: int = 0
    validate: bool = True
    precision: str = "auto"
    seed: int = 0
    skip_bad_records: bool = False
    deterministic: bool = False
    verbose: int = None
    strategy: str = "auto"
    data_service: str = None


@dataclasses.dataclass
class TrainResult:
    task: keras.Model
    history: dict
    output_dir: str
    skipped: list


def load_source(path, modalities=None, skip_bad_records=False, task="classify"):
    """A manifest or a packed data set, by what `path` is, for `task`."""
    if task == "retrieve":
        if is_packed(path):
            raise ValueError(
                f"{path} is a packed data set; retrieval reads a manifest of "
                "pairs."
            )
        return read_pairs(path, modalities, skip_bad_records)
    if is_packed(path):
        return open_packed(path)
    return read_manifest(
        path,
        modalities=modalities,
        target_fields=(LABEL_FIELD,),
        on_error="skip" if skip_bad_records else "raise",
    )


def train(config):
    """Reads the data, builds the task, trains it and saves it.

    Training resumes from `output_dir/backup` if an earlier run with the
    same output directory was interrupted, so finished epochs are never
    lost. The task (with its preprocessor, vocabulary, class names and
    this config) is saved as one file, `output_dir/task.keras`.

    Returns:
        A `TrainResult`.
    """
    if config.task not in TASKS:
        raise ValueError(
            f"task must be one of {TASKS}, received {config.task!r}."
        )
    # First: the multi-worker strategy starts this worker's server.
    distribution = resolve_strategy(config.strategy)
    if distribution.multi_worker:
        keras_compat.apply()
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    source = load_source(
        config.manifest,
        config.modalities if config.task == "retrieve" else None,
        config.skip_bad_records,
        config.task,
    )
    modalities = _chosen_modalities(config, source)
    train_split = _split(
        source, "train", modalities, config.manifest, required=True
    )
    validation_split = None
    if config.validate or config.early_stopping_patience:
        validation_split = _split(
            source, "validation", modalities, config.manifest
        )
    build = (
        build_dual_encoder if config.task == "retrieve" else build_classifier
    )
    with distribution.strategy.scope():
        task = build(config, source, train_split, modalities)
    logger.info("dtype policy: %s", task.dtype_policy.name)
    if "text" in modalities:
        _warn_if_truncated(task, _captions(train_split), config)
    batch_size = distribution.global_batch_size(config.batch_size)
    train_data = _dataset(
        task, train_split, modalities, config, distribution, training=True
    )
    steps_per_epoch = None  # Keras counts the batches
    if config.data_service:
        # Workers share one job, each taking different batches.
        job = distribution.shared_name("mmkeras")
        train_data = serve_input(train_data, config.data_service, job)
        steps_per_epoch = _batches(train_split, batch_size, config.task)
    validation_data = None
    if validation_split is not None:
        validation_data = _dataset(
            task,
            validation_split,
            modalities,
            config,
            distribution,
            training=False,
        )
    # Steps of the global batch: the schedule ends with the training.
    steps = config.epochs * -(-_count(source, "train") // batch_size)
    with distribution.strategy.scope():
        task.compile(
            optimizer=keras.optimizers.AdamW(
                keras.optimizers.schedules.CosineDecay(
                    config.learning_rate, decay_steps=steps, alpha=0.05
                ),
                weight_decay=config.weight_decay,
            )
        )
    if distribution.is_chief:
        os.makedirs(config.output_dir, exist_ok=True)
        _write_config(config, modalities)
    callbacks = _callbacks(config, validation_data is not None, distribution)
    if config.task == "retrieve" and validation_split is not None:
        callbacks.insert(
            0, RetrievalValidation(validation_split, config.batch_size)
        )
    history = task.fit(
        train_data,
        shuffle=False,  # the dataset reshuffles itself every epoch
        validation_data=validation_data,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        verbose=_verbosity(config.verbose) if distribution.is_chief else 0,
        callbacks=callbacks,
    )
    if distribution.is_chief:
        task.save(os.path.join(config.output_dir, TASK_FILE))
    distribution.barrier()
    return TrainResult(
        task, history.history, config.output_dir, _skipped(source)
    )


def build_classifier(config, source, train_split, modalities):
    """The classification task for this config and data."""
    multiple = len(modalities) > 1
    return multimodal_classifier(
        modalities,
        source.labels(LABEL_FIELD),
        fusion=config.fusion,
        modality_dropout=config.modality_dropout,
        auxiliary_loss_weight=config.auxiliary_loss_weight if multiple else 0.0,
        modality_evidence=config.modality_evidence and multiple,
        stop_fusion_gradients=config.stop_fusion_gradients and multiple,
        **_common_task_args(config, train_split, modalities),
    )


def build_dual_encoder(config, source, train_split, modalities):
    """The retrieval task for this config and data."""
    return dual_encoder(
        modalities,
        embedding_dim=config.embedding_dim,
        loss=config.loss,
        **_common_task_args(config, train_split, modalities),
    )


def _common_task_args(config, train_split, modalities):
    """What every task preset takes from the config: the vocabulary (of
    the training captions), the encoder and input sizes, the precision
    and the metadata."""
    vocabulary = None
    if "text" in modalities:
        vocabulary = learn_vocabulary(_captions(train_split))
    return dict(
        vocabulary=vocabulary,
        hidden_dim=config.hidden_dim,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        image_size=config.image_size,
        sequence_length=config.sequence_length,
        sample_rate=config.sample_rate,
        clip_seconds=config.clip_seconds,
        num_frames=config.num_frames,
        dropout=config.dropout,
        dtype=resolve_precision(config.precision),
        metadata={"train_config": _config_dict(config, modalities)},
    )


def task_kind(task):
    """The `TrainConfig.task` that builds tasks like `task`."""
    return "retrieve" if isinstance(task, DualEncoder) else "classify"


def task_file(output_dir):
    """The `.keras` file of a training directory (or the path itself)."""
    if os.path.isdir(output_dir):
        return os.path.join(output_dir, TASK_FILE)
    return output_dir


def load_task(output_dir):
    """The task saved by `train` in `output_dir` (or a `.keras` path)."""
    path = task_file(output_dir)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No trained task at {path}; run `mmkeras train` with "
            f"--output-dir {output_dir} first."
        )
    return keras.saving.load_model(path)


def _chosen_modalities(config, source):
    if not config.modalities:
        return tuple(source.modalities)
    absent = sorted(set(config.modalities) - set(source.modalities))
    if absent:
        raise ValueError(
            f"{config.manifest} has no {', '.join(absent)} field; its "
            f"modalities are {', '.join(source.modalities)}."
        )
    return tuple(sorted(config.modalities))


def _split(source, name, modalities, path, required=False):
    """A split as `make_dataset` reads it, or None when it is empty.

    Records with none of the model's modalities (possible when a model
    reads a subset of the manifest's) teach nothing; they are left out.
    """
    split = source.split(name) if _count(source, name) else []
    if isinstance(split, list):
        usable = [r for r in split if _has_any(r, modalities)]
        if len(usable) < len(split):
            logger.info(
                "%s split: left out %d records without %s",
                name,
                len(split) - len(usable),
                " or ".join(modalities),
            )
        split = usable
    if isinstance(split, list) and not split:
        if required:
            raise ValueError(f"{path} has no records with split '{name}'.")
        return None
    return split


def _has_any(record, modalities):
    return any(record.get(m) not in (None, "") for m in modalities)


def _count(source, name):
    if hasattr(source, "count"):  # a packed data set knows its sizes
        return source.count(name)
    return len(source.split(name))


def _batches(split, batch_size, task):
    """Training batches per epoch (the last may be smaller)."""
    count = len(split) if isinstance(split, list) else split.count
    if task == "retrieve":  # `_dataset` drops the remainder
        return count // batch_size
    return -(-count // batch_size)


def _captions(split):
    """The non-empty training captions, from any kind of source."""
    texts = raw_dataset(split, ("text",), target_fields=())
    return [t["text"].decode() for t in texts.as_numpy_iterator() if t["text"]]


def _warn_if_truncated(task, captions, config):
    """A warning when the model cuts many captions: words past
    `sequence_length` are lost to it, in training and serving alike."""
    tokenizer = task.preprocessor.features.tokenizer
    counts = tokenizer.piece_counts(captions).numpy()
    cut = float(np.mean(counts > config.sequence_length))
    if cut > TRUNCATION_WARNING:
        logger.warning(
            "%.0f%% of the training captions are longer than sequence_length="
            "%d word pieces (the longest has %d) and are cut; raise "
            "--sequence-length.",
            100 * cut,
            config.sequence_length,
            counts.max(),
        )


def _dataset(task, split, modalities, config, distribution, training):
    preprocessor = task.preprocessor
    augmenting = config.augment
    if augmenting is None:
        augmenting = config.task == "classify"
    if training and augmenting:
        seed = config.seed

        def preprocessor(raw):
            features, targets = task.preprocessor(raw)
            return augment(features, seed), targets

    dataset = make_dataset(
        split,
        preprocessor,
        distribution.global_batch_size(config.batch_size),
        modalities=modalities,
        target_fields=(task.preprocessor.label_field,),
        shuffle=training,
        seed=config.seed,
        max_video_frames=config.num_frames,
        # A contrastive loss over a last batch of one or two pairs is
        # nearly free and teaches nothing.
        drop_remainder=training and config.task == "retrieve",
        # Workers split each batch by position: the same order on all.
        deterministic=True if distribution.multi_worker else None,
    )
    return distribution.shard(dataset)


def _callbacks(config, has_validation, distribution):
    callbacks = [
        WorkerBackupAndRestore(
            os.path.join(config.output_dir, "backup"),
            is_chief=distribution.is_chief,
            strategy=distribution.strategy
            if distribution.multi_worker
            else None,
        )
    ]
    if config.early_stopping_patience and has_validation:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=config.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    return callbacks


def _verbosity(verbose):
    """Keras' progress bar on a terminal; one line per epoch in logs."""
    if verbose is not None:
        return verbose
    return 1 if sys.stdout.isatty() else 2


def _config_dict(config, modalities):
    values = dataclasses.asdict(config)
    values["modalities"] = list(modalities)
    return values


def _write_config(config, modalities):
    path = os.path.join(config.output_dir, CONFIG_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_config_dict(config, modalities), f, indent=2)


def _skipped(source):
    return list(getattr(source, "skipped", []))
