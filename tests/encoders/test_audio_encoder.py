import io
import wave

import keras
import numpy as np
import tensorflow as tf

from mmkeras.encoders import AudioEncoder
from mmkeras.preprocessing import WavDecoder
from tests.test_case import run_layer_checks

SAMPLE_RATE = 8000
# 0.25 s: 23 log-mel frames, subsampled to 11 and then 5 tokens.
WAVEFORM = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 2000))
MASK = np.arange(2000)[None] < np.array([[2000], [1200]])


def _encoder(dtype=None):
    return AudioEncoder(SAMPLE_RATE, hidden_dim=8, num_mel_bins=16, dtype=dtype)


def test_layer_checks(tmp_path):
    run_layer_checks(
        _encoder,
        {
            "audio_waveform": WAVEFORM.astype("float32"),
            "audio_mask": MASK,
        },
        tmp_path,
    )


def test_token_mask_follows_the_sample_mask():
    outputs = _encoder()({"audio_waveform": WAVEFORM, "audio_mask": MASK})
    assert outputs["pooled_output"].shape == (2, 8)
    assert outputs["sequence_output"].shape == (2, 5, 8)
    # 1200 real samples: 13 whole frames -> 6 -> 2 real tokens.
    np.testing.assert_array_equal(
        outputs["sequence_mask"],
        [[True] * 5, [True, True, False, False, False]],
    )


def test_padding_does_not_change_the_unpadded_output():
    encoder = _encoder()
    short = WAVEFORM[1:, :1200]
    unpadded = encoder(
        {"audio_waveform": short, "audio_mask": np.ones_like(short, bool)}
    )
    # Padding with non-finite garbage: none of it may reach a real token.
    garbage = np.full((1, 800), np.nan)
    garbage[:, ::2] = 1e4
    padded = encoder(
        {
            "audio_waveform": np.concatenate([short, garbage], axis=1),
            "audio_mask": MASK[1:],
        }
    )
    np.testing.assert_allclose(
        padded["pooled_output"], unpadded["pooled_output"], atol=1e-5
    )
    np.testing.assert_allclose(
        padded["sequence_output"][:, :2],
        unpadded["sequence_output"],
        atol=1e-5,
    )
    assert np.all(np.isfinite(padded["sequence_output"]))


def test_log_mel_is_float32_under_mixed_precision():
    encoder = _encoder("mixed_float16")
    log_mel = encoder.get_layer("log_mel")
    frontend = keras.Model(encoder.inputs, log_mel.output)
    features = frontend(
        {"audio_waveform": np.zeros((1, 800)), "audio_mask": np.ones((1, 800))}
    )
    assert features.dtype == "float32"
    # float16 cannot hold log(1e-6) = -13.8155 (it rounds to -13.8125).
    np.testing.assert_allclose(features, np.log(1e-6), rtol=1e-7)
    assert encoder.get_layer("subsampling_0").compute_dtype == "float16"


def _wav_bytes(samples):
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def test_decoded_wav_batches_feed_the_encoder():
    rng = np.random.default_rng(2)
    clips = [_wav_bytes(rng.integers(-3000, 3000, n)) for n in (2000, 900)]
    batch = next(
        iter(
            tf.data.Dataset.from_tensor_slices(clips)
            .map(WavDecoder(SAMPLE_RATE, num_samples=2000))
            .batch(2)
        )
    )
    outputs = _encoder()(batch)
    np.testing.assert_array_equal(
        np.sum(outputs["sequence_mask"], axis=1), [5, 1]
    )
