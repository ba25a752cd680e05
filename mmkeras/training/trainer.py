"""Training a multimodal classifier from a manifest, in one call."""

import dataclasses
import json
import logging
import os

import keras

from mmkeras.data.manifest import read_manifest
from mmkeras.data.pipeline import make_dataset
from mmkeras.models.presets import image_text_classifier
from mmkeras.preprocessing.image_preprocessor import ImagePreprocessor
from mmkeras.preprocessing.image_text_preprocessor import ImageTextPreprocessor
from mmkeras.preprocessing.vocabulary import learn_vocabulary
from mmkeras.preprocessing.vocabulary import save_vocabulary
from mmkeras.preprocessing.word_piece_tokenizer import WordPieceTokenizer
from mmkeras.training.precision import resolve_precision

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
PREPROCESSOR_FILE = "preprocessor.json"
CLASS_NAMES_FILE = "class_names.json"
VOCABULARY_FILE = "vocabulary.txt"


@dataclasses.dataclass
class TrainConfig:
    """Everything `train` needs; flat, so a CLI maps onto it one to one.

    Args:
        manifest: str. JSONL manifest with `image`, `text`, `label`,
            `split` (`train` and `validation` records are used).
        output_dir: str. Receives the model, preprocessor, vocabulary,
            class names and the resumable backup.
        epochs: int.
        batch_size: int.
        learning_rate: float. Peak of the cosine decay schedule.
        image_size: int. Side of the square model input.
        sequence_length: int. Tokens per caption.
        hidden_dim: int. Width of encoders and fusion.
        precision: "auto", "float32", "mixed_float16" or "mixed_bfloat16".
        seed: int. Seeds weights and shuffling.
        skip_bad_records: bool. Skip (and report) bad manifest records
            instead of stopping at the first one.
        verbose: int. Keras progress output: 0 silent, 1 progress bar,
            2 one line per epoch.
    """

    manifest: str
    output_dir: str
    epochs: int = 12
    batch_size: int = 32
    learning_rate: float = 3e-3
    image_size: int = 32
    sequence_length: int = 24
    hidden_dim: int = 64
    precision: str = "auto"
    seed: int = 0
    skip_bad_records: bool = False
    verbose: int = 1


@dataclasses.dataclass
class TrainResult:
    classifier: keras.Model
    preprocessor: ImageTextPreprocessor
    class_names: list
    history: dict
    output_dir: str


def build_preprocessor(captions, config):
    vocabulary = learn_vocabulary(captions)
    return ImageTextPreprocessor(
        ImagePreprocessor((config.image_size, config.image_size)),
        WordPieceTokenizer(vocabulary, config.sequence_length),
        name="preprocessor",
    )


def train(config):
    """Reads the manifest, learns the vocabulary, trains and saves.

    Training resumes from `output_dir/backup` if an earlier run with the
    same output directory was interrupted, so finished epochs are never
    lost.

    Returns:
        A `TrainResult`.
    """
    keras.utils.set_random_seed(config.seed)
    manifest = read_manifest(
        config.manifest, on_error="skip" if config.skip_bad_records else "raise"
    )
    train_records = manifest.split("train")
    validation_records = manifest.split("validation")
    if not train_records:
        raise ValueError(
            f"{config.manifest} has no records with split 'train'."
        )
    class_names = manifest.labels()
    preprocessor = build_preprocessor(
        [r["text"] for r in train_records], config
    )
    policy = resolve_precision(config.precision)
    logger.info("dtype policy: %s", policy)
    classifier = image_text_classifier(
        vocabulary_size=preprocessor.tokenizer.vocabulary_size,
        num_classes=len(class_names),
        image_size=(config.image_size, config.image_size),
        sequence_length=config.sequence_length,
        hidden_dim=config.hidden_dim,
        dtype=policy,
    )
    train_data = make_dataset(
        train_records,
        preprocessor,
        class_names,
        config.batch_size,
        shuffle=True,
        seed=config.seed,
    )
    validation_data = None
    if validation_records:
        validation_data = make_dataset(
            validation_records, preprocessor, class_names, config.batch_size
        )
    steps = config.epochs * -(-len(train_records) // config.batch_size)
    classifier.compile(
        optimizer=keras.optimizers.AdamW(
            keras.optimizers.schedules.CosineDecay(
                config.learning_rate, decay_steps=steps, alpha=0.05
            ),
            weight_decay=1e-4,
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    os.makedirs(config.output_dir, exist_ok=True)
    history = classifier.fit(
        train_data,
        validation_data=validation_data,
        epochs=config.epochs,
        verbose=config.verbose,
        shuffle=False,  # the dataset reshuffles itself every epoch
        callbacks=[
            keras.callbacks.BackupAndRestore(
                os.path.join(config.output_dir, "backup")
            )
        ],
    )
    save_training_outputs(
        config.output_dir, classifier, preprocessor, class_names
    )
    return TrainResult(
        classifier,
        preprocessor,
        class_names,
        history.history,
        config.output_dir,
    )


def save_training_outputs(output_dir, classifier, preprocessor, class_names):
    """Writes the model, preprocessor config, vocabulary and class names."""
    classifier.save(os.path.join(output_dir, MODEL_FILE))
    with open(os.path.join(output_dir, PREPROCESSOR_FILE), "w") as f:
        json.dump(keras.saving.serialize_keras_object(preprocessor), f)
    with open(os.path.join(output_dir, CLASS_NAMES_FILE), "w") as f:
        json.dump(class_names, f)
    save_vocabulary(
        preprocessor.tokenizer.vocabulary,
        os.path.join(output_dir, VOCABULARY_FILE),
    )


def load_training_outputs(output_dir):
    """Returns `(classifier, preprocessor, class_names)` saved by `train`."""
    classifier = keras.saving.load_model(os.path.join(output_dir, MODEL_FILE))
    with open(os.path.join(output_dir, PREPROCESSOR_FILE)) as f:
        preprocessor = keras.saving.deserialize_keras_object(json.load(f))
    with open(os.path.join(output_dir, CLASS_NAMES_FILE)) as f:
        class_names = json.load(f)
    return classifier, preprocessor, class_names
