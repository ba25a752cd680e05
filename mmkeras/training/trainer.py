"""Training a task from a manifest (or a packed data set), in one call."""

import dataclasses
import json
import logging
import os
import shutil
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
from mmkeras.models.speech_recognizer import SpeechRecognizer
from mmkeras.models.speech_recognizer import character_vocabulary
from mmkeras.models.video_summarizer import video_summarizer
from mmkeras.preprocessing.vocabulary import learn_vocabulary
from mmkeras.preprocessing.vocabulary import load_vocabulary
from mmkeras.preprocessing.vocabulary import save_vocabulary
from mmkeras.training import keras_compat
from mmkeras.training import speech
from mmkeras.training.augmentation import augment
from mmkeras.training.callbacks import BestCheckpoint
from mmkeras.training.callbacks import NonFiniteLoss
from mmkeras.training.callbacks import ResumableCSVLogger
from mmkeras.training.callbacks import StopOnNonFiniteLoss
from mmkeras.training.callbacks import best_value
from mmkeras.training.callbacks import record_path
from mmkeras.training.compilation import choose_jit_compile
from mmkeras.training.curves import draw_curves
from mmkeras.training.distribution import WorkerBackupAndRestore
from mmkeras.training.distribution import resolve_strategy
from mmkeras.training.distribution import serve_input
from mmkeras.training.precision import choose_precision
from mmkeras.training.precision import resolve_precision
from mmkeras.training.retrieval import RetrievalValidation
from mmkeras.training.retrieval import read_pairs
from mmkeras.training.video_summary import read_summary_manifest

logger = logging.getLogger(__name__)

# What a run writes into its output directory.
TASK_FILE = "task.keras"
CONFIG_FILE = "config.json"
VOCABULARY_FILE = "vocabulary.txt"
CLASS_NAMES_FILE = "class_names.txt"
BACKUP_DIR = "backup"
HISTORY_FILE = "history.csv"
LOGS_DIR = "logs"
CURVES_FILE = "curves.png"
BEST_FILE = "best.keras"
# What a resumed run may set differently from the run it resumes: how
# long and how fast it trains, and what it shows; never the model, its
# inputs or its data's meaning (those would not fit the backup).
RESUMABLE_CHANGES = (
    "manifest",
    "output_dir",
    "epochs",
    "learning_rate",
    "weight_decay",
    "early_stopping_patience",
    "verbose",
    "backup_every",
    "skip_bad_records",
    "deterministic",
)
TASKS = ("classify", "retrieve", "speech", "video_summary")
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
        output_dir: str. Receives the trained `task.keras`, and, while
            training, the run's files (see `train`).
        task: str. "classify" (labels from the `label` field),
            "retrieve" (a `DualEncoder` on pairs of two modalities; see
            `retrieval.read_pairs`), "speech" (a `SpeechRecognizer` on
            `audio` and `transcript`; see `training.speech`) or
            "video_summary" (a `VideoSummarizer`; see `video_summary`).
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
        rank_loss_weight: float. Video summarisation: weight of the
            pairwise ranking loss added to the squared error (see
            `losses.frame_rank_loss`).
        embedding_dim: int. Retrieval: width of the shared space.
        loss: str. Retrieval: "clip" (InfoNCE) or "sigmoid" (SigLIP).
        augment: bool or None. Random shifts, noise, gain and token
            drops; None: on for classification, off for retrieval (a
            shift moves objects, a dropped word changes a caption).
        epochs, batch_size, learning_rate, weight_decay: optimisation.
            The learning rate follows a cosine decay from its peak.
        gradient_cache_chunk_size: int or None. Retrieval: the towers
            embed and backpropagate this many pairs at a time, so a large
            contrastive batch fits in memory (see `DualEncoder`).
        gradient_accumulation_steps: int or None. Update the weights
            every this many batches, with their mean gradient.
        early_stopping_patience: int. Epochs without a better validation
            loss before stopping (the best weights are kept); 0 disables.
        validate: bool. Measure the validation split after every epoch
            (in the logs; early stopping needs it). Off, training is about
            15% faster.
        precision: "auto", "float32", "mixed_float16" or "mixed_bfloat16".
            "auto": mixed_float16 on tensor-core GPUs, mixed_bfloat16 on
            TPUs and on CPUs with native bfloat16 (AMX, AVX512_BF16),
            else float32 (see `precision.choose_precision`); the run
            prints its choice and the reason.
        jit_compile: "auto", "on" or "off": compile the training step
            under XLA. "auto": on with GPUs or TPUs, off on CPU, where
            the shipped tasks measured no faster (see
            `compilation.choose_jit_compile`); printed with its reason.
        seed: int. Seeds weights, shuffling and augmentation.
        skip_bad_records: bool. Skip (and list) bad manifest records
            instead of stopping at the first one.
        deterministic: bool. Make TensorFlow's ops and the input pipeline
            deterministic (process-wide), so the same config trains the
            same weights on the same machine; a little slower.
        verbose: int or None. Keras progress output: 0 silent, 1 progress
            bar, 2 one line per epoch; None picks 1 on a terminal, else 2.
        backup_every: "epoch" or int. Back the training state up at every
            epoch's end, or also every this many steps (a long epoch
            then loses at most that many steps to an interruption).
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
    rank_loss_weight: float = 1.0
    embedding_dim: int = 64
    loss: str = "clip"
    augment: bool = None
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    gradient_cache_chunk_size: int = None
    gradient_accumulation_steps: int = None
    early_stopping_patience: int = 0
    validate: bool = True
    precision: str = "auto"
    jit_compile: str = "auto"
    seed: int = 0
    skip_bad_records: bool = False
    deterministic: bool = False
    verbose: int = None
    backup_every: int | str = "epoch"
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
    if task == "video_summary":
        return read_summary_manifest(path, skip_bad_records)
    if task == "retrieve":
        if is_packed(path):
            raise ValueError(
                f"{path} is a packed data set; retrieval reads a manifest of "
                "pairs."
            )
        return read_pairs(path, modalities, skip_bad_records)
    if task == "speech":
        if is_packed(path):
            raise ValueError(
                f"{path} is a packed data set; speech reads a manifest of "
                "audio and transcript records."
            )
        return speech.read_speech_manifest(path, skip_bad_records)
    if is_packed(path):
        return open_packed(path)
    return read_manifest(
        path,
        modalities=modalities,
        target_fields=(LABEL_FIELD,),
        on_error="skip" if skip_bad_records else "raise",
    )


@dataclasses.dataclass
class TrainingPlan:
    """What a run fixes from its data before its first step.

    Written into `output_dir` before training starts (`config.json`,
    `vocabulary.txt`, `class_names.txt`) and read back by a resumed run,
    so that a manifest edited in between cannot change the inputs or
    outputs of the model whose backup is being restored.

    Args:
        modalities: tuple of str, sorted.
        vocabulary: list of str, or None without text.
        class_names: list of str, or None for retrieval.
    """

    modalities: tuple
    vocabulary: list = None
    class_names: list = None


def train(config):
    """Reads the data, builds the task, trains it and saves it.

    Training resumes from `output_dir/backup` if an earlier run with the
    same output directory was interrupted (killed, or stopped by a NaN
    loss), so finished epochs are never lost: the backup's weights and
    optimizer state are restored and its epoch runs again from its start.
    A resumed run reuses the modalities, vocabulary and class names its
    first run wrote, and refuses settings that would change the model
    (see `RESUMABLE_CHANGES`). A run without a backup starts afresh,
    replacing an earlier run's files.

    `output_dir` receives, before the first step, `config.json` (this
    config, with the modalities resolved), `vocabulary.txt` (text) and
    `class_names.txt` (classification); during training `history.csv`
    (one row per finished epoch, kept across restarts), TensorBoard logs
    in `logs/`, `best.keras` with `best.json` (the best model so far by
    `val_loss`, or by the text-to-image Recall@1 for retrieval, when the
    run validates) and the backup; at the end `task.keras` (the task with
    its preprocessor and this config) and `curves.png` (the curves of
    `history.csv`), and the backup is deleted.

    Returns:
        A `TrainResult`; its history covers the epochs this call ran.

    Raises:
        NonFiniteLoss: the loss or the weights stopped being finite; the
            last good backup is kept.
    """
    _check_config(config)
    # First: the multi-worker strategy starts this worker's server.
    distribution = resolve_strategy(config.strategy)
    if distribution.multi_worker:
        keras_compat.apply()
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    resuming = has_backup(config.output_dir)
    saved = read_plan(config) if resuming else None
    modalities = saved.modalities if saved else config.modalities
    source = load_source(
        config.manifest,
        modalities if config.task == "retrieve" else None,
        config.skip_bad_records,
        config.task,
    )
    if saved is None:
        modalities = _chosen_modalities(config, source)
    train_split = _split(
        source, "train", modalities, config.manifest, required=True
    )
    validation_split = None
    if config.validate or config.early_stopping_patience:
        validation_split = _split(
            source, "validation", modalities, config.manifest
        )
    # Read once: the vocabulary (of a new run) and the length check use them.
    captions = _captions(train_split) if "text" in modalities else None
    plan = _complete_plan(config, saved, source, captions, modalities)
    _say_precision(config)
    with distribution.strategy.scope():
        if config.task == "speech":
            task = build_speech(config, plan, train_split)
        else:
            build = {
                "classify": build_classifier,
                "retrieve": build_dual_encoder,
                "video_summary": build_video_summarizer,
            }[config.task]
            task = build(config, plan)
    if captions is not None:
        _warn_if_truncated(task, captions, config)
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
                gradient_accumulation_steps=config.gradient_accumulation_steps,
            ),
            jit_compile=_say_jit_compile(config),
        )
    if distribution.is_chief:
        os.makedirs(config.output_dir, exist_ok=True)
        if not resuming:
            _remove_earlier_run(config.output_dir)
        write_plan(config, plan)
    distribution.barrier()  # the others read nothing the chief removes
    callbacks = _callbacks(
        config, task, validation_split, resuming, distribution
    )
    try:
        history = task.fit(
            train_data,
            shuffle=False,  # the dataset reshuffles itself every epoch
            validation_data=validation_data,
            epochs=config.epochs,
            steps_per_epoch=steps_per_epoch,
            verbose=_verbosity(config.verbose) if distribution.is_chief else 0,
            callbacks=callbacks,
        )
    except NonFiniteLoss as error:
        raise NonFiniteLoss(f"{error}; {_advice_after_nan(config)}") from None
    if config.task == "speech" and validation_split is not None:
        speech.tune_lm_weight(task, validation_split, config.batch_size)
    if distribution.is_chief:
        task.save(os.path.join(config.output_dir, TASK_FILE))
        history_path = os.path.join(config.output_dir, HISTORY_FILE)
        if os.path.exists(history_path):
            draw_curves(
                history_path, os.path.join(config.output_dir, CURVES_FILE)
            )
    distribution.barrier()
    return TrainResult(
        task, history.history, config.output_dir, _skipped(source)
    )


def build_classifier(config, plan):
    """The classification task for this config and `TrainingPlan`."""
    multiple = len(plan.modalities) > 1
    return multimodal_classifier(
        plan.modalities,
        plan.class_names,
        fusion=config.fusion,
        modality_dropout=config.modality_dropout,
        auxiliary_loss_weight=config.auxiliary_loss_weight if multiple else 0.0,
        modality_evidence=config.modality_evidence and multiple,
        stop_fusion_gradients=config.stop_fusion_gradients and multiple,
        **_common_task_args(config, plan),
    )


def build_dual_encoder(config, plan):
    """The retrieval task for this config and `TrainingPlan`."""
    return dual_encoder(
        plan.modalities,
        embedding_dim=config.embedding_dim,
        loss=config.loss,
        gradient_cache_chunk_size=config.gradient_cache_chunk_size,
        **_common_task_args(config, plan),
    )


def build_speech(config, plan, train_split):
    """The speech task for this config and `TrainingPlan`; its character
    language model is learned from the training transcripts."""
    return speech.build_speech_recognizer(
        config,
        plan.vocabulary,
        speech.transcripts_of(train_split),
        dtype=resolve_precision(config.precision),
        metadata={"train_config": _config_dict(config, plan.modalities)},
    )


def build_video_summarizer(config, plan):
    """The video summarisation task for this config and `TrainingPlan`
    (a query encoder when the plan has text)."""
    if "video" not in plan.modalities:
        raise ValueError(
            "task 'video_summary' needs the 'video' modality, received "
            f"modalities {plan.modalities}."
        )
    args = _common_task_args(config, plan)
    del args["sample_rate"], args["clip_seconds"]  # no audio
    return video_summarizer(**args, rank_loss_weight=config.rank_loss_weight)


def _common_task_args(config, plan):
    """What every task preset takes from the config and plan: the
    vocabulary, the encoder and input sizes, the precision and the
    metadata."""
    return dict(
        vocabulary=plan.vocabulary,
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
        metadata={"train_config": _config_dict(config, plan.modalities)},
    )


def _say_precision(config):
    """The dtype policy "auto" (or the config) picks, said with why."""
    choice = choose_precision(config.precision)
    _say(config, f"Precision: {choice.policy} ({choice.reason}).")


def _say_jit_compile(config):
    """Whether to compile under XLA, said with why."""
    choice = choose_jit_compile(config.jit_compile)
    state = "on" if choice.jit_compile else "off"
    _say(config, f"XLA: {state} ({choice.reason}).")
    return choice.jit_compile


def _say(config, message):
    """Logs `message`, and prints it unless the run is silent."""
    logger.info(message)
    if _verbosity(config.verbose):
        print(message, flush=True)


def has_backup(output_dir):
    """Whether `output_dir` holds the backup of an interrupted run."""
    backup = os.path.join(output_dir, BACKUP_DIR)
    return os.path.isdir(backup) and bool(os.listdir(backup))


def read_plan(config):
    """The `TrainingPlan` an interrupted run wrote into `output_dir`.

    Raises:
        ValueError: `config` differs from the interrupted run's in a
            setting outside `RESUMABLE_CHANGES`.
    """
    directory = config.output_dir
    config_path = os.path.join(directory, CONFIG_FILE)
    if not os.path.exists(config_path):
        raise ValueError(
            f"{directory} holds a backup but no {CONFIG_FILE}, so the run "
            f"cannot be resumed; delete {os.path.join(directory, BACKUP_DIR)} "
            "to start over."
        )
    with open(config_path, encoding="utf-8") as f:
        saved = json.load(f)
    modalities = tuple(saved["modalities"])
    current = json.loads(
        json.dumps(
            _config_dict(
                config,
                sorted(config.modalities) if config.modalities else modalities,
            )
        )
    )
    changed = [
        f"{key}={saved[key]!r} (now {current[key]!r})"
        for key in current
        if key in saved
        and key not in RESUMABLE_CHANGES
        and current[key] != saved[key]
    ]
    if changed:
        raise ValueError(
            f"{directory} holds the backup of a run with "
            f"{', '.join(changed)}; rerun with its settings to resume it, or "
            f"delete {os.path.join(directory, BACKUP_DIR)} to start over."
        )
    plan = TrainingPlan(modalities)
    vocabulary_path = os.path.join(directory, VOCABULARY_FILE)
    if os.path.exists(vocabulary_path):
        plan.vocabulary = load_vocabulary(vocabulary_path)
    class_names_path = os.path.join(directory, CLASS_NAMES_FILE)
    if os.path.exists(class_names_path):
        plan.class_names = load_vocabulary(class_names_path)
    logger.info("resuming the run in %s with its own plan", directory)
    return plan


def write_plan(config, plan):
    """Writes `config.json`, `vocabulary.txt` and `class_names.txt`."""
    directory = config.output_dir
    with open(os.path.join(directory, CONFIG_FILE), "w", encoding="utf-8") as f:
        json.dump(_config_dict(config, plan.modalities), f, indent=2)
    if plan.vocabulary is not None:
        save_vocabulary(
            plan.vocabulary, os.path.join(directory, VOCABULARY_FILE)
        )
    if plan.class_names is not None:
        broken = [name for name in plan.class_names if "\n" in name]
        if broken:
            raise ValueError(
                f"label {broken[0]!r} holds a line break; labels are one "
                "line each."
            )
        save_vocabulary(
            plan.class_names, os.path.join(directory, CLASS_NAMES_FILE)
        )


def _complete_plan(config, saved, source, captions, modalities):
    """The saved plan, with what it lacks learned from the data (a run
    written before plans were saved), or a new one."""
    plan = saved or TrainingPlan(modalities)
    if "text" in modalities and plan.vocabulary is None:
        plan.vocabulary = learn_vocabulary(captions)
    if config.task == "speech" and plan.vocabulary is None:
        plan.vocabulary = character_vocabulary(
            speech.transcripts_of(source.split("train"))
        )
    if config.task == "classify":
        labels = source.labels(LABEL_FIELD)
        if plan.class_names is None:
            plan.class_names = labels
        unknown = sorted(set(labels) - set(plan.class_names))
        if unknown:
            raise ValueError(
                f"{config.manifest} has labels ({', '.join(unknown)}) that "
                f"the interrupted run in {config.output_dir} does not know; "
                "train them into a new --output-dir."
            )
    return plan


def task_kind(task):
    """The `TrainConfig.task` that builds tasks like `task`."""
    from mmkeras.models.video_summarizer import VideoSummarizer

    if isinstance(task, VideoSummarizer):
        return "video_summary"
    if isinstance(task, SpeechRecognizer):
        return "speech"
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
    preprocessor = task.preprocessor
    # A summarizer's preprocessor holds its query tokenizer itself.
    tokenizer = getattr(preprocessor, "features", preprocessor).tokenizer
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
        target_fields=task.preprocessor.train_fields,
        shuffle=training,
        seed=config.seed,
        max_video_frames=config.num_frames,
        # A clip's decoding costs several times its training step
        # (profiled: 0.7-1 s per step of 16 clips with it, 0.2 s without):
        # decode once, unless augmentation makes every epoch differ.
        cache="inputs"
        if config.task == "video_summary" and not (training and augmenting)
        else False,
        # A contrastive loss over a last batch of one or two pairs is
        # nearly free and teaches nothing.
        drop_remainder=training and config.task == "retrieve",
        # Workers split each batch by position: the same order on all.
        deterministic=True if distribution.multi_worker else None,
    )
    return distribution.shard(dataset)


def _callbacks(config, task, validation_split, resuming, distribution):
    """The run's callbacks, in the order their `on_epoch_end` must run:
    retrieval metrics join the logs before anything reads them; the NaN
    stop comes before the backup, so a non-finite step is never backed
    up; the epoch's row and best model are written before its backup, so
    a kill between them makes a resumed run redo (and rewrite) the epoch
    rather than miss it. Only the chief writes the history, logs and
    best model; every worker runs the backup (see
    `WorkerBackupAndRestore`)."""
    output_dir = config.output_dir
    callbacks = []
    if config.task == "retrieve" and validation_split is not None:
        callbacks.append(
            RetrievalValidation(validation_split, config.batch_size)
        )
    if config.task == "speech" and validation_split is not None:
        callbacks.append(
            speech.SpeechValidation(validation_split, config.batch_size)
        )
    callbacks.append(StopOnNonFiniteLoss())
    if distribution.is_chief:
        callbacks += [
            ResumableCSVLogger(os.path.join(output_dir, HISTORY_FILE)),
            keras.callbacks.TensorBoard(
                os.path.join(output_dir, LOGS_DIR), write_graph=False
            ),
        ]
    if validation_split is not None and distribution.is_chief:
        monitor, mode = best_monitor(task)
        path = os.path.join(output_dir, BEST_FILE)
        best = best_value(path, monitor) if resuming else None
        callbacks.append(BestCheckpoint(path, monitor, mode, best))
    callbacks.append(
        WorkerBackupAndRestore(
            os.path.join(output_dir, BACKUP_DIR),
            is_chief=distribution.is_chief,
            strategy=distribution.strategy
            if distribution.multi_worker
            else None,
            save_freq=config.backup_every,
            verbose=_verbosity(config.verbose),
        )
    )
    if config.early_stopping_patience and validation_split is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=config.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    return callbacks


def best_monitor(task):
    """What `best.keras` is chosen by, and its direction: Recall@1 of the
    query modality (text) over the gallery for retrieval (the loss
    depends on the batch's negatives), else the validation loss."""
    if isinstance(task, DualEncoder):
        gallery, query = task.modalities
        return f"val_{query}_to_{gallery}_r1", "max"
    if isinstance(task, SpeechRecognizer):
        return "val_cer", "min"
    return "val_loss", "min"


def _check_config(config):
    if config.task not in TASKS:
        raise ValueError(
            f"task must be one of {TASKS}, received {config.task!r}."
        )
    if config.gradient_cache_chunk_size and config.task != "retrieve":
        raise ValueError(
            "gradient_cache_chunk_size is for a contrastive loss (task "
            f"'retrieve'), received it for task {config.task!r}; use "
            "gradient_accumulation_steps for larger classification batches."
        )
    every = config.backup_every
    steps = isinstance(every, int) and not isinstance(every, bool)
    if every != "epoch" and not (steps and every > 0):
        raise ValueError(
            "backup_every must be 'epoch' or a number of steps, received "
            f"{every!r}."
        )


def _remove_earlier_run(output_dir):
    """A run that starts afresh replaces an earlier run's files: its
    TensorBoard logs and best value would mix with this run's, and a plan
    file this run does not write would be read by its resumption."""
    shutil.rmtree(os.path.join(output_dir, LOGS_DIR), ignore_errors=True)
    for name in (record_path(BEST_FILE), VOCABULARY_FILE, CLASS_NAMES_FILE):
        path = os.path.join(output_dir, name)
        if os.path.exists(path):
            os.remove(path)


def _advice_after_nan(config):
    rate = f"--set learning_rate={config.learning_rate / 10:g}"
    if has_backup(config.output_dir):
        backup = os.path.join(config.output_dir, BACKUP_DIR)
        return (
            f"the last good backup is kept in {backup}: rerun with a lower "
            f"learning rate ({rate}) to resume from it"
        )
    return f"no backup was taken yet: rerun with a lower learning rate ({rate})"


def _verbosity(verbose):
    """Keras' progress bar on a terminal; one line per epoch in logs."""
    if verbose is not None:
        return verbose
    return 1 if sys.stdout.isatty() else 2


def _config_dict(config, modalities):
    values = dataclasses.asdict(config)
    values["modalities"] = list(modalities)
    return values


def _skipped(source):
    return list(getattr(source, "skipped", []))
