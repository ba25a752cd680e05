import io
import wave

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.preprocessing import WavDecoder
from tests.preprocessing import encoded_media
from tests.test_case import check_config_round_trip


def _wav_bytes(samples, sample_rate=8000):
    """16-bit PCM WAV bytes written with the standard library."""
    samples = np.asarray(samples, "<i2")
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(samples.tobytes())
    return buffer.getvalue()


SAMPLES = np.random.default_rng(0).integers(-32768, 32767, 600)


def test_round_trip_pads_and_masks():
    decoder = WavDecoder(8000, num_samples=800)
    decoded = decoder(tf.constant(_wav_bytes(SAMPLES)))
    waveform = decoded["audio_waveform"].numpy()
    assert waveform.dtype == np.float32 and waveform.shape == (800,)
    np.testing.assert_allclose(waveform[:600], SAMPLES / 32768.0, atol=1e-7)
    np.testing.assert_array_equal(waveform[600:], 0.0)
    np.testing.assert_array_equal(decoded["audio_mask"], np.arange(800) < 600)


def test_truncates_long_clips_and_decodes_batches():
    decoder = WavDecoder(8000, num_samples=500)
    decoded = decoder(
        tf.constant([_wav_bytes(SAMPLES), _wav_bytes(SAMPLES[:100])])
    )
    assert decoded["audio_waveform"].shape == (2, 500)
    np.testing.assert_allclose(
        decoded["audio_waveform"][0], SAMPLES[:500] / 32768.0, atol=1e-7
    )
    np.testing.assert_array_equal(
        np.sum(decoded["audio_mask"], axis=1), [500, 100]
    )


def test_stereo_is_averaged_to_mono():
    stereo = np.stack([np.full(50, 1000), np.full(50, 3000)], axis=1)
    decoded = WavDecoder(8000, num_samples=50)(tf.constant(_wav_bytes(stereo)))
    np.testing.assert_allclose(
        decoded["audio_waveform"], 2000 / 32768.0, atol=1e-7
    )


def test_same_result_eagerly_and_inside_dataset_map():
    decoder = WavDecoder(8000, num_samples=700)
    clips = [_wav_bytes(SAMPLES), _wav_bytes(SAMPLES[:10]), _wav_bytes([])]
    eager = decoder(tf.constant(clips))
    mapped = next(
        tf.data.Dataset.from_tensor_slices(clips)
        .map(decoder)
        .batch(3)
        .as_numpy_iterator()
    )
    for key in ("audio_waveform", "audio_mask"):
        np.testing.assert_array_equal(mapped[key], eager[key].numpy())


def test_non_wav_bytes_are_an_invalid_argument():
    decoder = WavDecoder(8000, num_samples=100)
    match = r"expects WAV bytes \(a RIFF/WAVE header\), received bytes "
    # The checks run in a graph, eagerly too, so quotes are escaped.
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=match + r'starting with \\?"not a wav',
    ):
        decoder(tf.constant(b"not a wav file"))
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        decoder(tf.constant(b"RIF"))
    # Inside a dataset too, with undecodable bytes shown as "?".
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"
    dataset = tf.data.Dataset.from_tensors(png).map(decoder)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=match + r'starting with \\?"\?PNG'
    ):
        list(dataset)


def test_wrong_sample_rate_names_expected_and_received_rates():
    decoder = WavDecoder(8000, num_samples=100)
    wav = _wav_bytes(SAMPLES, sample_rate=16000)
    match = r"expected sample rate 8000 Hz, received 16000 Hz"
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        decoder(tf.constant(wav))
    dataset = tf.data.Dataset.from_tensors(wav).map(decoder)
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        list(dataset)


def test_resampling_length_and_linear_interpolation():
    ramp = np.arange(1600) * 10  # 0.1 s at 16 kHz
    decoder = WavDecoder(8000, num_samples=1000, resample=True)
    down = decoder(tf.constant(_wav_bytes(ramp, sample_rate=16000)))
    assert int(np.sum(down["audio_mask"])) == 800
    # Output sample j is input sample 2j.
    np.testing.assert_allclose(
        down["audio_waveform"][:800], ramp[::2] / 32768.0, atol=1e-6
    )
    # 4 kHz -> 8 kHz: midpoints are averages of neighbours.
    up = decoder(tf.constant(_wav_bytes(ramp[:400], sample_rate=4000)))
    assert int(np.sum(up["audio_mask"])) == 800
    expected = np.interp(np.arange(800) / 2, np.arange(400), ramp[:400])
    np.testing.assert_allclose(
        up["audio_waveform"][:800], expected / 32768.0, atol=1e-6
    )
    # A matching rate is left exactly as it is.
    same = decoder(tf.constant(_wav_bytes(SAMPLES)))
    np.testing.assert_array_equal(
        same["audio_waveform"][:600], SAMPLES / np.float32(32768.0)
    )


def test_validates_arguments_and_input_type():
    with pytest.raises(ValueError, match="num_samples=0"):
        WavDecoder(8000, num_samples=0)
    with pytest.raises(TypeError, match="string tensor"):
        WavDecoder(8000, 10)(tf.zeros((3,)))
    check_config_round_trip(WavDecoder(16000, 320, resample=True))


def test_works_inside_an_exported_serving_signature(tmp_path):
    decoder = WavDecoder(8000, num_samples=700)
    module = tf.Module()
    module.decode = tf.function(
        decoder, input_signature=[tf.TensorSpec((None,), tf.string)]
    )
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    clips = tf.constant([_wav_bytes(SAMPLES), _wav_bytes(SAMPLES[:10])])
    served, eager = loaded.decode(clips), decoder(clips)
    for key in ("audio_waveform", "audio_mask"):
        np.testing.assert_array_equal(served[key], eager[key])
    wrong_rate = tf.constant([_wav_bytes(SAMPLES, sample_rate=22050)])
    with pytest.raises(tf.errors.InvalidArgumentError, match="received 22050"):
        loaded.decode(wrong_rate)


def _error(run):
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        run()
    return str(raised.value)


def test_a_clip_claiming_ten_hours_is_refused_before_decoding():
    decoder = WavDecoder(8000, num_samples=800, resample=True)
    assert decoder.max_audio_samples == 10 * 800 * 6  # 10 clips at 48 kHz
    claims = encoded_media.wav_claiming(36000)
    message = _error(
        lambda: decoder(tf.constant([_wav_bytes(SAMPLES), claims]))
    )
    assert (
        "audio 1 holds 288000000 samples (36000.0 s at 8000 Hz, 1 channels)"
        ", over the limit of 48000 (max_audio_samples)" in message
    )
    dataset = tf.data.Dataset.from_tensors(claims).map(decoder)
    assert "(max_audio_samples)" in _error(lambda: list(dataset))


def test_samples_count_over_all_channels():
    stereo = np.zeros((30, 2))
    decoder = WavDecoder(8000, num_samples=50, max_audio_samples=50)
    assert "holds 60 samples (0.0 s at 8000 Hz, 2 channels)" in _error(
        lambda: decoder(tf.constant(_wav_bytes(stereo)))
    )
    assert decoder(tf.constant(_wav_bytes(stereo[:25])))["audio_mask"].shape


def test_a_truncated_header_is_named():
    wav = _wav_bytes(SAMPLES)
    decoder = WavDecoder(8000, 100)
    # One clip is "audio", a batch's are numbered.
    assert "audio has a truncated WAV header" in _error(
        lambda: decoder(tf.constant(wav[:30]))
    )
    assert "audio 1 has a truncated WAV header" in _error(
        lambda: decoder(tf.constant([wav, wav[:30]]))
    )


def test_resampling_computes_only_the_samples_kept():
    # A header claiming 1 Hz would make 8000 output samples per input
    # sample; only num_samples of them are computed.
    clip = encoded_media.wav(np.full(2000, 0.25), sample_rate=1)
    decoded = WavDecoder(8000, num_samples=100, resample=True)(clip)
    assert int(np.sum(decoded["audio_mask"])) == 100
    np.testing.assert_allclose(decoded["audio_waveform"], 0.25, atol=1e-4)


def test_max_audio_samples_is_kept_in_the_config():
    decoder = WavDecoder(16000, 320, max_audio_samples=1000)
    check_config_round_trip(decoder)
    assert WavDecoder.from_config(decoder.get_config()).max_audio_samples == (
        1000
    )
