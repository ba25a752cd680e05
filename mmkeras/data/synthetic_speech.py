"""Spoken digit strings and short commands, for speech recognition.

Speech is synthesised with eSpeak NG (the `espeakng-loader` wheel ships
its library and voice data; it is called through ctypes), varying the
voice variant, speaking rate, pitch and the gap between words, and mixed
with white noise at an SNR drawn from `SNRS_DB`. The voices of the test
and validation splits are held out of training, so the test split
measures speakers the model never heard.

Where eSpeak NG cannot be loaded, `write_speech_dataset` says so in one
line and writes "tone speech" instead: each character a fixed pair of
tones (`tone_speech`), deterministic, learnable by the same model, and
what the test suite trains on to stay fast.

A manifest record: `{"audio": "audio/00012.wav", "transcript": "three
one four", "split": "train", "voice": "m3", "snr_db": 20}`.
"""

import ctypes
import json
import os
import wave

import numpy as np

DIGITS = "zero one two three four five six seven eight nine".split()
COMMANDS = ("turn on", "turn off", "open", "close", "check", "stop")
THINGS = ("the light", "the door", "the radio", "the window", "the heat")
VOICES = {
    "train": (
        "m1",
        "m2",
        "m4",
        "m5",
        "m6",
        "m8",
        "f1",
        "f2",
        "f3",
        "f5",
        "klatt",
        "klatt3",
        "klatt5",
        "klatt6",
    ),
    "validation": ("m7", "klatt4"),
    "test": ("m3", "f4", "klatt2"),
}
# None: no noise.
SNRS_DB = (None, 30, 20, 15, 10)
RATES_WPM = (130, 200)
PITCHES = (25, 75)
WORD_GAPS = (0, 4)  # units of 10 ms
ESPEAK_RATE_HZ = 22050
# eSpeak NG's espeak_PARAMETER values.
_RATE, _PITCH, _WORDGAP = 1, 3, 7
_AUDIO_OUTPUT_RETRIEVAL = 1
# Library path -> (the loaded library, its sample rate).
_LIBRARIES = {}


def make_transcript(rng):
    """A digit string (2 to 4 digits) or a command, in lower case."""
    if rng.random() < 0.5:
        return " ".join(rng.choice(DIGITS, rng.integers(2, 5)))
    return f"{rng.choice(COMMANDS)} {rng.choice(THINGS)}"


class EspeakSynthesizer:
    """English speech from eSpeak NG, through ctypes.

    Args:
        library_path: str or None. libespeak-ng; None: the one
            `espeakng_loader` ships.
        data_path: str or None. espeak-ng-data; None: likewise.

    Raises:
        OSError: the library or its data cannot be loaded.
    """

    def __init__(self, library_path=None, data_path=None):
        if library_path is None or data_path is None:
            try:
                import espeakng_loader
            except ImportError as error:
                raise OSError("the espeakng-loader package is missing") from (
                    error
                )
            library_path = library_path or espeakng_loader.get_library_path()
            data_path = data_path or espeakng_loader.get_data_path()
        # eSpeak NG is initialised once per process: a second
        # espeak_Initialize makes synthesis hang.
        if library_path not in _LIBRARIES:
            library = ctypes.CDLL(library_path)
            rate = library.espeak_Initialize(
                _AUDIO_OUTPUT_RETRIEVAL, 0, data_path.encode(), 0
            )
            if rate <= 0:
                raise OSError(
                    f"eSpeak NG could not read its data in {data_path}"
                )
            _LIBRARIES[library_path] = (library, rate)
        self._lib, self.sample_rate = _LIBRARIES[library_path]
        self.data_path = data_path
        self._chunks = []
        callback_type = ctypes.CFUNCTYPE(
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_short),
            ctypes.c_int,
            ctypes.c_void_p,
        )
        # Kept on self: ctypes must not free the callback while C holds it.
        self._callback = callback_type(self._receive)

    def _receive(self, samples, count, events):
        if count > 0 and samples:
            self._chunks.append(np.ctypeslib.as_array(samples, (count,)).copy())
        return 0

    def say(self, text, voice="m1", rate=170, pitch=50, word_gap=0):
        """float32 waveform in [-1, 1] at `sample_rate` Hz.

        Args:
            text: str. What to say.
            voice: str. An English voice variant (`m1`..`m8`, `f1`..`f5`,
                `klatt`..`klatt6`, ...).
            rate: int. Words per minute.
            pitch: int. 0 to 100.
            word_gap: int. Extra pause between words, in 10 ms units.
        """
        # eSpeak NG takes an unknown variant silently (the plain voice).
        variant = os.path.join(self.data_path, "voices", "!v", voice)
        if not os.path.isfile(variant):
            raise ValueError(
                f"eSpeak NG has no voice variant {voice!r} (no {variant})."
            )
        self._lib.espeak_SetSynthCallback(self._callback)
        if self._lib.espeak_SetVoiceByName(f"en+{voice}".encode()) != 0:
            raise ValueError(f"eSpeak NG cannot set the voice en+{voice}.")
        for parameter, value in (
            (_RATE, rate),
            (_PITCH, pitch),
            (_WORDGAP, word_gap),
        ):
            self._lib.espeak_SetParameter(parameter, int(value), 0)
        self._chunks = []
        encoded = text.encode()
        self._lib.espeak_Synth(
            encoded, len(encoded) + 1, 0, 0, 0, 0, None, None
        )
        self._lib.espeak_Synchronize()
        if not self._chunks:
            return np.zeros(0, "float32")
        return np.concatenate(self._chunks).astype("float32") / 32768.0


def resample(waveform, rate, target_rate):
    """Band-limited resampling by the FFT (the spectrum is cut or padded)."""
    count = round(len(waveform) * target_rate / rate)
    spectrum = np.fft.rfft(waveform)
    size = count // 2 + 1
    kept = np.zeros(size, complex)
    kept[: min(size, len(spectrum))] = spectrum[:size]
    return (np.fft.irfft(kept, count) * count / len(waveform)).astype("float32")


def add_noise(waveform, snr_db, rng):
    """White noise at `snr_db` below the waveform's power (None: none)."""
    if snr_db is None or not len(waveform):
        return waveform
    power = float(np.mean(waveform**2)) or 1e-8
    noise = rng.normal(0, np.sqrt(power / 10 ** (snr_db / 10)), len(waveform))
    return (waveform + noise).astype("float32")


def tone_speech(text, sample_rate, char_seconds=0.06, gap_seconds=0.08):
    """Deterministic "speech" where each character is a pair of tones.

    Letters and digits get their own two frequencies (between 300 Hz and
    0.45 of the sample rate); a space is a silence of `gap_seconds`; each
    character lasts `char_seconds` with a short fade, so a repeated
    character is heard twice. Learnable by a CTC model in seconds.
    """
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789'"
    top = 0.45 * sample_rate
    pieces = []
    count = round(char_seconds * sample_rate)
    time = np.arange(count) / sample_rate
    fade = np.minimum(1.0, np.minimum(time, time[::-1]) / 0.01)
    for char in text:
        if char == " " or char not in alphabet:
            pieces.append(np.zeros(round(gap_seconds * sample_rate)))
            continue
        index = alphabet.index(char)
        low = 300 + (top / 2 - 300) * (index % 7) / 6
        high = top / 2 + (top / 2) * (index // 7) / 6
        pieces.append(
            0.3
            * fade
            * (np.sin(2 * np.pi * low * time) + np.sin(2 * np.pi * high * time))
        )
    if not pieces:
        return np.zeros(0, "float32")
    return np.concatenate(pieces).astype("float32")


def write_wav(path, waveform, sample_rate):
    """16-bit mono PCM WAV."""
    pcm = np.clip(np.round(waveform * 32767), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(pcm.tobytes())


def load_synthesizer():
    """An `EspeakSynthesizer`, or None with one line saying why not."""
    try:
        return EspeakSynthesizer()
    except OSError as error:
        print(
            f"eSpeak NG is not available ({error}); writing tone speech "
            "(mmkeras.data.synthetic_speech.tone_speech) instead."
        )
        return None


def write_speech_dataset(
    directory,
    examples_per_voice=120,
    sample_rate=8000,
    max_seconds=3.0,
    seed=0,
    engine="espeak",
    voices=None,
):
    """Writes WAVs and `manifest.jsonl` for the speech task.

    Every voice of `voices` (split name to voice variants; default
    `VOICES`) says `examples_per_voice` transcripts from `make_transcript`
    at a random rate, pitch and word gap, mixed with noise at an SNR from
    `SNRS_DB`, cut to clips of at most `max_seconds` (a clip that would be
    longer is said again faster). With `engine="tones"`, or when eSpeak
    NG cannot be loaded, clips are `tone_speech` (with noise, voices only
    naming the records) instead.

    Returns:
        dict with `manifest` (its path), `engine` ("espeak" or "tones")
        and `counts` (records per split).
    """
    os.makedirs(os.path.join(directory, "audio"), exist_ok=True)
    synthesizer = load_synthesizer() if engine == "espeak" else None
    engine = "espeak" if synthesizer is not None else "tones"
    voices = voices or VOICES
    rng = np.random.default_rng(seed)
    records = []
    for split in sorted(voices):
        for voice in voices[split]:
            for _ in range(examples_per_voice):
                transcript = make_transcript(rng)
                snr = SNRS_DB[rng.integers(len(SNRS_DB))]
                if synthesizer is None:
                    waveform = tone_speech(transcript, sample_rate)
                else:
                    waveform = _espeak_clip(
                        synthesizer,
                        transcript,
                        voice,
                        sample_rate,
                        max_seconds,
                        rng,
                    )
                waveform = add_noise(waveform, snr, rng)
                waveform = waveform[: int(max_seconds * sample_rate)]
                peak = float(np.max(np.abs(waveform), initial=0.0))
                if peak > 0.99:
                    waveform = waveform * (0.99 / peak)
                name = f"audio/{len(records):05d}.wav"
                write_wav(os.path.join(directory, name), waveform, sample_rate)
                records.append(
                    {
                        "audio": name,
                        "transcript": transcript,
                        "split": split,
                        "voice": voice,
                        "snr_db": snr,
                    }
                )
    path = os.path.join(directory, "manifest.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    counts = {}
    for record in records:
        counts[record["split"]] = counts.get(record["split"], 0) + 1
    return {"manifest": path, "engine": engine, "counts": counts}


def _espeak_clip(synthesizer, transcript, voice, sample_rate, max_seconds, rng):
    rate = int(rng.integers(*RATES_WPM))
    pitch = int(rng.integers(*PITCHES))
    gap = int(rng.integers(*WORD_GAPS))
    while True:
        waveform = synthesizer.say(transcript, voice, rate, pitch, gap)
        waveform = resample(waveform, synthesizer.sample_rate, sample_rate)
        if len(waveform) <= max_seconds * sample_rate or rate >= 400:
            return waveform
        rate, gap = rate + 40, 0
