"""Demo speech: eSpeak NG through ctypes, held-out voices, the fallback."""

import json

import numpy as np
import pytest

from mmkeras.data import synthetic_speech


@pytest.fixture(scope="module")
def synthesizer():
    return synthetic_speech.EspeakSynthesizer()


def test_espeak_says_words_and_voices_differ(synthesizer):
    one = synthesizer.say("three one", voice="m1", rate=170)
    other = synthesizer.say("three one", voice="f2", rate=170)
    slow = synthesizer.say("three one", voice="m1", rate=100)
    for waveform in (one, other, slow):
        assert waveform.dtype == np.float32
        assert np.abs(waveform).max() > 0.05
    seconds = len(one) / synthesizer.sample_rate
    assert 0.3 < seconds < 2.0
    assert len(slow) > 1.3 * len(one)
    assert len(one) != len(other) or not np.allclose(one, other)
    with pytest.raises(ValueError, match="no voice variant 'nope'"):
        synthesizer.say("one", voice="nope")


def test_resample_keeps_a_tone_at_its_frequency():
    rate, target = 22050, 8000
    time = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 1000 * time).astype("float32")
    resampled = synthetic_speech.resample(tone, rate, target)
    assert len(resampled) == target
    spectrum = np.abs(np.fft.rfft(resampled))
    assert np.argmax(spectrum) == 1000  # 1 Hz bins over one second


def test_the_dataset_holds_test_voices_out_of_training(tmp_path):
    voices = {"train": ("m1", "f2"), "test": ("m3",)}
    summary = synthetic_speech.write_speech_dataset(
        str(tmp_path), examples_per_voice=2, voices=voices, seed=1
    )
    assert summary["engine"] == "espeak"
    assert summary["counts"] == {"test": 2, "train": 4}
    with open(summary["manifest"]) as f:
        records = [json.loads(line) for line in f]
    by_split = {}
    for record in records:
        by_split.setdefault(record["split"], set()).add(record["voice"])
        assert (tmp_path / record["audio"]).stat().st_size > 1000
        assert record["transcript"] == record["transcript"].lower().strip()
    assert not by_split["test"] & by_split["train"]


def test_without_espeak_one_line_then_tone_speech(
    tmp_path, monkeypatch, capsys
):
    def missing(*args, **kwargs):
        raise OSError("libespeak-ng.so: cannot open shared object file")

    monkeypatch.setattr(synthetic_speech, "EspeakSynthesizer", missing)
    summary = synthetic_speech.write_speech_dataset(
        str(tmp_path), examples_per_voice=1, voices={"train": ("m1",)}
    )
    printed = capsys.readouterr().out
    assert summary["engine"] == "tones"
    assert printed.count("\n") == 1 and "eSpeak NG is not available" in printed


def test_a_missing_library_is_an_os_error():
    with pytest.raises(OSError):
        synthetic_speech.EspeakSynthesizer(
            library_path="/nonexistent/libespeak-ng.so", data_path="/x"
        )


def test_tone_speech_is_deterministic_and_spells_repeats():
    first = synthetic_speech.tone_speech("see", 8000)
    assert np.array_equal(first, synthetic_speech.tone_speech("see", 8000))
    # Three characters of 60 ms, the repeated "e" twice.
    assert len(first) == 3 * 480
    assert np.array_equal(first[480:960], first[960:])
