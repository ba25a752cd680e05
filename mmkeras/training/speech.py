"""Speech recognition in training: the task from a config, its language
model, whole-set CER/WER validation during `fit`, and alignment sheets."""

import logging

import keras
import numpy as np

from mmkeras.data.manifest import read_manifest
from mmkeras.encoders.audio_encoder import AudioEncoder
from mmkeras.metrics import error_rates
from mmkeras.metrics import normalize_transcript
from mmkeras.models.char_language_model import CharLanguageModel
from mmkeras.models.speech_recognizer import TRANSCRIPT_FIELD
from mmkeras.models.speech_recognizer import SpeechPreprocessor
from mmkeras.models.speech_recognizer import SpeechRecognizer
from mmkeras.preprocessing.wav_decoder import WavDecoder
from mmkeras.training.evaluation import predict_split

logger = logging.getLogger(__name__)

LM_ORDER = 5
# Fusion weights tried on the validation split; the best CER wins.
LM_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
# Validation clips the weight is chosen on, at most.
LM_TUNING_EXAMPLES = 200


def read_speech_manifest(path, skip_bad_records=False):
    """A manifest of `audio` (WAV path) and `transcript` records."""
    return read_manifest(
        path,
        modalities=("audio",),
        target_fields=(TRANSCRIPT_FIELD,),
        on_error="skip" if skip_bad_records else "raise",
    )


def transcripts_of(records):
    """The normalised transcripts of manifest records."""
    return [normalize_transcript(r[TRANSCRIPT_FIELD]) for r in records]


def build_speech_recognizer(
    config, vocabulary, transcripts, dtype=None, metadata=None
):
    """A `SpeechRecognizer` for a `TrainConfig`, with its character
    language model learned from `transcripts`.

    The longest label is the longest training transcript, at most the
    model's tokens per clip (CTC cannot emit more).
    """
    num_samples = round(config.clip_seconds * config.sample_rate)
    encoder = AudioEncoder(
        config.sample_rate,
        config.hidden_dim,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        dropout=config.dropout,
        spec_augment=True,
        dtype=dtype,
        name="audio_encoder",
    )
    preprocessor = SpeechPreprocessor(
        WavDecoder(config.sample_rate, num_samples, resample=True),
        vocabulary,
        max(len(t) for t in transcripts),
    )
    task = SpeechRecognizer(
        encoder,
        vocabulary,
        preprocessor=preprocessor,
        metadata=metadata,
        dtype=dtype,
    )
    task.attach_language_model(
        CharLanguageModel(LM_ORDER).fit(transcripts), LM_WEIGHTS[2]
    )
    return task


def greedy_error_rates(task, records, batch_size=64):
    """Whole-set greedy CER and WER of a task on manifest records."""
    outputs, targets, answered = predict_split(task, records, batch_size)
    references = np.asarray(targets)[answered]
    texts = task.transcribe(outputs, "greedy")
    return error_rates(references, texts)


def tune_lm_weight(task, records, batch_size=64, weights=LM_WEIGHTS):
    """Sets the task's LM weight to the one of `weights` with the lowest
    CER on (up to `LM_TUNING_EXAMPLES` of) `records`; returns
    `{weight: cer}`."""
    records = list(records)[:LM_TUNING_EXAMPLES]
    outputs, targets, answered = predict_split(task, records, batch_size)
    references = np.asarray(targets)[answered]
    results = {}
    for weight in weights:
        task.metadata["lm_weight"] = float(weight)
        texts = task.transcribe(outputs, "beam_lm")
        results[weight] = error_rates(references, texts)["cer"]
    best = min(results, key=lambda w: (results[w], w))
    task.metadata["lm_weight"] = float(best)
    logger.info("LM weight %s (validation CER by weight: %s)", best, results)
    return results


class SpeechValidation(keras.callbacks.Callback):
    """Whole-set greedy CER and WER on a split after every epoch.

    Every validation clip is transcribed and the edit distances summed
    over the split (`metrics.error_rates`), never averaged per batch; the
    results join the epoch's logs as `val_cer` and `val_wer`, where
    `History`, `CSVLogger`, `TensorBoard` and `BestCheckpoint` see them.
    Put it before those callbacks.

    Args:
        records: list of manifest records with transcripts.
        batch_size: int.
    """

    def __init__(self, records, batch_size=64):
        super().__init__()
        self.records = records
        self.batch_size = batch_size

    def on_epoch_end(self, epoch, logs=None):
        rates = greedy_error_rates(self.model, self.records, self.batch_size)
        if logs is not None:
            logs["val_cer"] = rates["cer"]
            logs["val_wer"] = rates["wer"]
