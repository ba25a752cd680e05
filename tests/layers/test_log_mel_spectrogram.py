import numpy as np
import pytest
import tensorflow as tf

from mmkeras.layers import LogMelSpectrogram
from tests.test_case import check_config_round_trip
from tests.test_case import check_precision_policies
from tests.test_case import check_saved_keras_equal_outputs

SAMPLE_RATE = 8000
NUM_MEL_BINS = 16


def _hertz_to_mel(hertz):
    return 1127.0 * np.log(1.0 + np.asarray(hertz) / 700.0)


def _mel_to_hertz(mel):
    return 700.0 * (np.exp(np.asarray(mel) / 1127.0) - 1.0)


def _mel_band_edges():
    """HTK mel band edges from 0 Hz to Nyquist: num_mel_bins + 2 of them."""
    return np.linspace(
        _hertz_to_mel(0.0), _hertz_to_mel(SAMPLE_RATE / 2), NUM_MEL_BINS + 2
    )


def _reference_log_mel(waveform, frame_length, frame_step, floor=1e-6):
    """The log-mel computed by hand in NumPy."""
    fft_length = 256
    count = (len(waveform) - frame_length) // frame_step + 1
    frames = np.stack(
        [
            waveform[i * frame_step : i * frame_step + frame_length]
            for i in range(count)
        ]
    )
    window = 0.5 - 0.5 * np.cos(
        2 * np.pi * np.arange(frame_length) / frame_length
    )  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, n=fft_length)) ** 2
    # Triangular filters, linear in mel; the DC bin gets no weight.
    bin_mels = _hertz_to_mel(
        np.linspace(0, SAMPLE_RATE / 2, fft_length // 2 + 1)
    )[:, None]
    edges = _mel_band_edges()
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(
        0.0,
        np.minimum(
            (bin_mels - lower) / (center - lower),
            (upper - bin_mels) / (upper - center),
        ),
    )
    weights[0] = 0.0
    return np.log(np.maximum(power @ weights, floor))


def _layer(dtype=None):
    return LogMelSpectrogram(SAMPLE_RATE, NUM_MEL_BINS, dtype=dtype)


def test_defaults_are_25ms_frames_every_10ms():
    layer = _layer()
    assert (layer.frame_length, layer.frame_step) == (200, 80)
    assert layer.fft_length == 256
    assert layer.num_frames(2000) == 23
    assert layer(np.zeros((3, 2000), "float32")).shape == (3, 23, 16)
    assert layer.compute_output_shape((None, 2000)) == (None, 23, 16)


@pytest.mark.parametrize("band", [3, 9, 14])
def test_pure_sine_peaks_in_the_mel_band_centred_on_its_frequency(band):
    frequency = _mel_to_hertz(_mel_band_edges()[band + 1])
    time = np.arange(2000) / SAMPLE_RATE
    sine = np.sin(2 * np.pi * frequency * time).astype("float32")
    log_mel = np.asarray(_layer()(sine[None]))[0]
    np.testing.assert_array_equal(np.argmax(log_mel, axis=-1), band)


def test_silence_gives_log_of_the_floor():
    log_mel = _layer()(np.zeros((2, 1000), "float32"))
    np.testing.assert_allclose(log_mel, np.log(1e-6), rtol=1e-7)


def test_matches_a_numpy_reference():
    waveform = np.random.default_rng(0).uniform(-1, 1, 1000).astype("float32")
    layer = LogMelSpectrogram(
        SAMPLE_RATE, NUM_MEL_BINS, frame_length=160, frame_step=60
    )
    expected = _reference_log_mel(waveform.astype("float64"), 160, 60)
    actual = np.asarray(layer(waveform[None]))[0]
    assert actual.shape == expected.shape == (15, NUM_MEL_BINS)
    np.testing.assert_allclose(actual, expected, atol=1e-4)


def test_unknown_length_inside_a_function_and_static_length_kept():
    layer = _layer()
    waveform = np.random.default_rng(1).uniform(-1, 1, (2, 1000))
    waveform = waveform.astype("float32")

    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.float32)])
    def unknown_length(x):
        return layer(x)

    static = tf.function(layer).get_concrete_function(
        tf.TensorSpec((None, 1000), tf.float32)
    )
    assert static.output_shapes == (None, layer.num_frames(1000), 16)
    np.testing.assert_allclose(
        unknown_length(waveform), layer(waveform), atol=1e-6
    )
    np.testing.assert_allclose(
        unknown_length(waveform[:, :150]), np.zeros((2, 0, 16))
    )


def test_mel_bands_are_the_filter_matrix_without_its_zeros():
    layer = LogMelSpectrogram(16000, 40)
    bins, weights = layer.mel_bands()
    matrix = np.asarray(layer.mel_matrix())
    power = np.random.default_rng(2).uniform(0, 10, (3, matrix.shape[0]))
    banded = (power[:, bins] * weights).sum(axis=-1)
    np.testing.assert_allclose(banded, power @ matrix, rtol=1e-5)
    assert bins.shape[1] < matrix.shape[0] // 4  # a band is a few bins


def test_float32_under_mixed_precision():
    # In float16 log(1e-6) would be -13.8125, 3e-3 away from -13.8155.
    log_mel = _layer("mixed_float16")(np.zeros((1, 400), "float32"))
    assert log_mel.dtype == "float32"
    np.testing.assert_allclose(log_mel, np.log(1e-6), rtol=1e-7)
    check_precision_policies(
        _layer, np.ones((2, 400), "float32"), float32_outputs=[()]
    )


def test_serialization(tmp_path):
    waveform = np.random.default_rng(1).normal(size=(2, 480)).astype("float32")
    check_saved_keras_equal_outputs(_layer(), waveform, tmp_path)
    check_config_round_trip(
        LogMelSpectrogram(
            16000, 8, frame_length=300, frame_step=120, floor=1e-4
        )
    )


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="floor must be positive"):
        LogMelSpectrogram(SAMPLE_RATE, floor=0.0)
    with pytest.raises(ValueError, match="num_mel_bins must be positive"):
        LogMelSpectrogram(SAMPLE_RATE, num_mel_bins=0)
