"""Speech recognition in training: the task from a config, its language
model, whole-set CER/WER validation during `fit`, and alignment sheets."""

import logging

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
from mmkeras.training.callbacks import SplitValidation
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


class SpeechValidation(SplitValidation):
    """Whole-set greedy CER and WER on a split after every epoch.

    Every validation clip is transcribed and the edit distances summed
    over the split (`metrics.error_rates`); the results join the epoch's
    logs as `val_cer` and `val_wer`, as `SplitValidation` says.

    Args:
        records: list of manifest records with transcripts.
        batch_size: int.
    """

    def measure(self):
        return greedy_error_rates(self.model, self.records, self.batch_size)


def speech_report(task, records, batch_size=64):
    """Whole-set CER/WER of greedy decoding, beam search alone, beam
    search with the language model, and a blank-only output (every
    transcript empty), on manifest records.

    Returns:
        dict of decoder name to `metrics.error_rates`' dict.
    """
    outputs, targets, answered = predict_split(task, records, batch_size)
    references = list(np.asarray(targets)[answered])
    report = {
        "greedy": error_rates(references, task.transcribe(outputs, "greedy")),
        "beam": error_rates(references, task.transcribe(outputs, "beam")),
    }
    if task.language_model is not None:
        report["beam + LM"] = error_rates(
            references, task.transcribe(outputs, "beam_lm")
        )
    report["blank-only"] = error_rates(references, [""] * len(references))
    return report


SHEET_SCALE = 3  # pixels per log-mel frame and per mel bin
TEXT_ROWS = 52  # pixels for the reference and hypothesis lines
ALIGNMENT_ROWS = 40  # pixels for the CTC alignment strip
REFERENCE_COLOUR = (20, 110, 40)
HYPOTHESIS_COLOUR = (31, 119, 180)
TOKEN_COLOUR = (214, 39, 40)


def draw_alignments(task, records, path):
    """A PNG of held-out clips: each clip's log-mel spectrogram (time
    left to right, low frequencies at the bottom), its reference and
    greedy hypothesis, and the CTC alignment beneath: every emitted
    character at the frames where the greedy path holds it, and a tick
    on every token where the path is not blank.

    Args:
        task: a `SpeechRecognizer`.
        records: list of manifest records with transcripts (a few).
        path: str. The PNG to write.

    Returns:
        int, the clips drawn.
    """
    from PIL import Image
    from PIL import ImageDraw

    from mmkeras.data.pipeline import raw_dataset

    raw = next(
        raw_dataset(records, ("audio",), (TRANSCRIPT_FIELD,))
        .batch(len(records))
        .as_numpy_iterator()
    )
    outputs = {
        k: v.numpy()
        for k, v in task.predict_raw({"audio": raw["audio"]}).items()
    }
    features = task.preprocessor({"audio": raw["audio"]})
    log_mel_layer = task.encoder.get_layer("log_mel")
    log_mel = np.asarray(log_mel_layer(features["audio_waveform"]))
    mask = np.asarray(features["audio_mask"])
    frames_per_token = task.seconds_per_token * log_mel_layer.sample_rate
    frames_per_token /= log_mel_layer.frame_step
    width = log_mel.shape[1] * SHEET_SCALE
    spectrogram_height = log_mel.shape[2] * SHEET_SCALE
    panel = TEXT_ROWS + spectrogram_height + ALIGNMENT_ROWS
    image = Image.new("RGB", (width, panel * len(records)), "white")
    draw = ImageDraw.Draw(image)
    for row in range(len(records)):
        top = row * panel
        real = log_mel_layer.num_frames(int(mask[row].sum()))
        values = log_mel[row].T[::-1]  # low frequencies at the bottom
        shown = values[:, :real] if real else values
        low, high = np.percentile(shown, [2, 99.5])
        scaled = np.clip((values - low) / max(high - low, 1e-6), 0, 1)
        pixels = (255 * (1 - scaled)).astype(np.uint8)
        pixels[:, real:] = 235
        picture = Image.fromarray(pixels).resize(
            (width, spectrogram_height), Image.NEAREST
        )
        image.paste(picture, (0, top + TEXT_ROWS))
        reference = raw[TRANSCRIPT_FIELD][row].decode()
        hypothesis = outputs["transcripts"][row].decode()
        draw.text((4, top + 4), f"ref: {reference}", fill=REFERENCE_COLOUR)
        draw.text((4, top + 22), f"hyp: {hypothesis}", fill=HYPOTHESIS_COLOUR)
        strip = top + TEXT_ROWS + spectrogram_height
        count = int(outputs["token_counts"][row])
        seconds = task.seconds_per_token
        for k in range(count):
            char = task.vocabulary[int(outputs["token_ids"][row][k]) - 1]
            start = outputs["token_start_times"][row][k] / seconds
            end = outputs["token_end_times"][row][k] / seconds
            x0 = start * frames_per_token * SHEET_SCALE
            x1 = end * frames_per_token * SHEET_SCALE
            draw.rectangle(
                [x0, strip + 4, max(x1 - 2, x0 + 1), strip + 10],
                fill=TOKEN_COLOUR,
            )
            draw.text(
                (x0, strip + 14), "_" if char == " " else char, fill="black"
            )
    image.save(path)
    return len(records)
