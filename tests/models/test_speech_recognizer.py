"""The speech task: preprocessing, the Task contract, precision, bad WAVs."""

import io
import wave

import keras
import numpy as np
import pytest
import tensorflow as tf

from mmkeras.data.synthetic_speech import tone_speech
from mmkeras.encoders import AudioEncoder
from mmkeras.models.speech_recognizer import SpeechPreprocessor
from mmkeras.models.speech_recognizer import SpeechRecognizer
from mmkeras.models.speech_recognizer import character_vocabulary
from mmkeras.preprocessing import WavDecoder
from tests.test_case import run_task_test

RATE = 8000
SAMPLES = 8000  # one-second clips
TRANSCRIPTS = ["one two", "three", "two one", "on"]


def _wav(waveform, rate=RATE, channels=1, width=2):
    samples = np.asarray(waveform, "float32").reshape(-1, channels)
    if width == 2:
        pcm = np.round(samples * 32767).astype("<i2").tobytes()
    else:
        pcm = (np.round(samples * 127) + 128).astype("u1").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(pcm)
    return buffer.getvalue()


def _raw(texts):
    clips = np.empty(len(texts), object)
    clips[:] = [_wav(tone_speech(t, RATE)) for t in texts]
    return {"audio": clips}


def _task(dtype=None, spec_augment=False):
    vocabulary = character_vocabulary(TRANSCRIPTS)
    preprocessor = SpeechPreprocessor(
        WavDecoder(RATE, SAMPLES, resample=True), vocabulary, 8
    )
    return SpeechRecognizer(
        AudioEncoder(RATE, 16, spec_augment=spec_augment, dtype=dtype),
        vocabulary,
        preprocessor=preprocessor,
        dtype=dtype,
    )


def test_labels_by_hand_eagerly_and_in_dataset_map():
    preprocessor = _task().preprocessor  # vocabulary " ehnortw"
    assert preprocessor.vocabulary == [" ", "e", "h", "n", "o", "r", "t", "w"]
    raw = {"audio": _raw(["one"])["audio"][0], "transcript": "One  TWO!"}
    _, eager = preprocessor(raw)
    # o n e ␣ t w o ("!" is not in the vocabulary: dropped), cut to 8.
    expected = [5, 4, 2, 1, 7, 8, 5, 0]
    assert eager["labels"].numpy().tolist() == expected
    assert int(eager["label_lengths"]) == 7
    mapped = next(iter(tf.data.Dataset.from_tensors(raw).map(preprocessor)))[1]
    assert mapped["labels"].numpy().tolist() == expected


def test_a_vocabulary_is_single_characters_and_not_empty():
    decoder = WavDecoder(RATE, SAMPLES)
    with pytest.raises(ValueError, match="a character at least"):
        SpeechPreprocessor(decoder, [], 8)
    with pytest.raises(ValueError, match="single characters, received 'ab'"):
        SpeechPreprocessor(decoder, ["a", "ab"], 8)


@pytest.mark.slow
def test_the_task_contract(tmp_path):
    task = _task()
    raw = _raw(TRANSCRIPTS)
    run_task_test(task, raw, TRANSCRIPTS, tmp_path)


@pytest.mark.slow
def test_mixed_float16_logits_and_loss_are_float32_and_finite():
    task = _task("mixed_float16", spec_augment=True)
    features, targets = task.preprocessor(
        {
            "audio": tf.constant(_raw(TRANSCRIPTS)["audio"]),
            "transcript": tf.constant(TRANSCRIPTS),
        }
    )
    outputs = task(features)
    assert outputs["logits"].dtype == tf.float32
    task.compile()
    history = task.fit(features, targets, epochs=1, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert isinstance(task.optimizer, keras.optimizers.LossScaleOptimizer)


def test_spec_augment_masks_only_while_training():
    from mmkeras.layers.spec_augment import SpecAugment

    layer = SpecAugment(max_frequency_width=4, max_time_fraction=0.3)
    features = np.random.default_rng(0).normal(size=(4, 50, 16))
    features = features.astype("float32")
    np.testing.assert_array_equal(layer(features), features)
    masked = np.asarray(layer(features, training=True))
    changed = masked != features
    assert changed.any()
    # Masked values hold each example's mean.
    means = features.mean(axis=(1, 2))
    for row in range(4):
        np.testing.assert_allclose(
            masked[row][changed[row]], means[row], rtol=1e-5
        )


def test_an_unalignable_example_adds_no_loss():
    task = _task()
    logits = tf.zeros((1, 2, 9))
    loss = task.compute_loss(
        y={
            "labels": tf.constant([[1, 2, 3, 4, 5, 6, 7, 8]]),
            "label_lengths": tf.constant([8]),
        },
        y_pred={"logits": logits, "logit_lengths": tf.constant([2])},
    )
    assert float(loss) == 0.0


def test_other_rate_and_stereo_are_read_and_bad_inputs_fail_clearly():
    task = _task()
    speech = tone_speech("one", RATE)
    resampled = _wav(
        np.interp(
            np.arange(0, len(speech), 0.5), np.arange(len(speech)), speech
        ),
        rate=2 * RATE,
    )
    stereo = _wav(np.repeat(speech[:, None], 2, axis=1), channels=2)
    served = task.serving_signatures()["serving_default"]

    def run(clips):
        return served({"audio": tf.constant(clips, tf.string)})

    plain = run([_wav(speech)])["log_probs"].numpy()
    np.testing.assert_allclose(
        run([resampled])["log_probs"].numpy(), plain, atol=0.05
    )
    np.testing.assert_allclose(
        run([stereo])["log_probs"].numpy(), plain, atol=1e-4
    )
    # An empty clip is no audio: no tokens, an empty transcript.
    empty = run([b""])
    assert empty["logit_lengths"].numpy().tolist() == [0]
    assert empty["transcripts"].numpy().tolist() == [b""]
    cases = [
        (_wav(speech, width=1), "Can only read 16-bit WAV files"),
        (
            _wav(np.zeros(2 * SAMPLES)),
            "audio 0 lasts 2.00 s, over the model's longest clip of 1 s "
            "(clip_seconds)",
        ),
        (b"ID3\x03 not a wav at all", "expects WAV bytes (a RIFF/WAVE"),
    ]
    for clip, fragment in cases:
        with pytest.raises(tf.errors.InvalidArgumentError) as error:
            run([clip])
        assert fragment in error.value.message.replace("\\'", "'")
    # The served model still answers after the bad requests.
    np.testing.assert_allclose(
        run([_wav(speech)])["log_probs"].numpy(), plain, atol=1e-5
    )
