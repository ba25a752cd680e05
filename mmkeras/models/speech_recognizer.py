"""Speech recognition: WAV bytes to characters, trained with CTC."""

import keras
import numpy as np
import tensorflow as tf

from mmkeras import losses
from mmkeras.encoders.audio_encoder import SUBSAMPLING_LAYERS
from mmkeras.encoders.audio_encoder import SUBSAMPLING_STRIDE
from mmkeras.models import ctc_decoding
from mmkeras.models.char_language_model import CharLanguageModel
from mmkeras.models.task import Task
from mmkeras.preprocessing import decode_limits
from mmkeras.preprocessing.media_headers import wav_header
from mmkeras.preprocessing.preprocessing_layer import PreprocessingLayer

TRANSCRIPT_FIELD = "transcript"
# The metadata keys of the language model and its fusion weight.
LM_KEY = "char_lm"
LM_WEIGHT_KEY = "lm_weight"
DEFAULT_LM_WEIGHT = 0.5
BEAM_WIDTH = 8


def character_vocabulary(transcripts):
    """The sorted characters of normalised transcripts (space included)."""
    from mmkeras.metrics import normalize_transcript

    chars = set()
    for text in transcripts:
        chars.update(normalize_transcript(text))
    if not chars:
        raise ValueError(
            "The training transcripts hold no characters; a speech "
            "recognizer needs non-empty `transcript` fields."
        )
    return sorted(chars)


def normalize_transcripts(texts):
    """TF version of `metrics.normalize_transcript`: lower case, single
    spaces, stripped."""
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, r"\s+", " ")
    return tf.strings.strip(texts)


@keras.saving.register_keras_serializable(package="mmkeras")
class SpeechPreprocessor(PreprocessingLayer):
    """WAV bytes to waveforms, and transcripts to CTC label ids.

    Args:
        wav_decoder: a `WavDecoder` (fixes the sample rate and the longest
            clip, in samples).
        vocabulary: list of str, one character each: class `i + 1` is
            `vocabulary[i]`; class 0 is the CTC blank.
        max_label_length: int. Labels are cut to this many characters.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: dict with `audio` (WAV bytes, `()` or `(batch,)`) and,
            to train, `transcript` (str). Characters outside the
            vocabulary are dropped from labels.

    Returns:
        `{audio_waveform, audio_mask}`, or with a transcript
        `(features, {"labels": int32 (max_label_length,), "label_lengths":
        int32 ()})` (batched: a leading batch axis).

    Example:
    >>> from mmkeras.models.speech_recognizer import SpeechPreprocessor
    >>> preprocessor = SpeechPreprocessor(
    ...     WavDecoder(sample_rate=8000, num_samples=800), [" ", "a", "b"], 4
    ... )
    >>> wav = tf.audio.encode_wav(tf.zeros((500, 1)), sample_rate=8000)
    >>> raw = {"audio": wav, "transcript": tf.constant("Ab  a")}
    >>> _, targets = preprocessor(raw)
    >>> targets["labels"].numpy().tolist(), int(targets["label_lengths"])
    ([2, 3, 1, 2], 4)
    """

    sublayer_args = ("wav_decoder",)
    modalities = ("audio",)
    label_field = TRANSCRIPT_FIELD

    def __init__(self, wav_decoder, vocabulary, max_label_length, **kwargs):
        super().__init__(**kwargs)
        if not len(vocabulary):
            raise ValueError("A speech vocabulary needs a character at least.")
        bad = [c for c in vocabulary if len(c) != 1]
        if bad:
            raise ValueError(
                "A speech vocabulary holds single characters, received "
                f"{bad[0]!r}."
            )
        self.wav_decoder = wav_decoder
        self.vocabulary = list(vocabulary)
        self.max_label_length = int(max_label_length)
        # Character i of the vocabulary is label i + 1 (0 is CTC's blank),
        # looked up by code point in a sorted table. A Keras StringLookup
        # did this before, but a layer without XLA support anywhere in a
        # model (this one is only ever run by tf.data) makes Keras turn
        # `jit_compile=True` off for the whole training step.
        order = sorted(range(len(self.vocabulary)), key=self._code_point)
        self._sorted_code_points = np.array(
            [self._code_point(i) for i in order], "int32"
        )
        self._sorted_labels = np.array([i + 1 for i in order], "int32")

    def _code_point(self, index):
        return ord(self.vocabulary[index])

    def raw_input_specs(self):
        return {"audio": tf.TensorSpec([None], tf.string, name="audio")}

    @property
    def max_seconds(self):
        """The longest clip the model reads, in seconds."""
        return self.wav_decoder.num_samples / self.wav_decoder.sample_rate

    def call(self, inputs):
        audio = tf.convert_to_tensor(inputs["audio"])
        with tf.control_dependencies([self.check_durations(audio)]):
            audio = tf.identity(audio)
        features = self.wav_decoder(audio)
        if TRANSCRIPT_FIELD not in inputs:
            return features
        return features, self.labels(inputs[TRANSCRIPT_FIELD])

    def check_durations(self, audio):
        """An op failing with InvalidArgumentError if a WAV clip lasts
        longer than `max_seconds` (the decoder would cut its words off).
        Clips that are not WAV pass, for the decoder to reject."""
        if audio.dtype != tf.string:
            return tf.constant(True)  # the decoder names the wrong dtype
        clips = tf.reshape(audio, [-1])
        names = decode_limits.indexed_names("audio", tf.size(clips))
        limit = self.max_seconds
        checks = tf.map_fn(
            lambda args: _check_duration(args[0], args[1], limit),
            (clips, names),
            fn_output_signature=tf.bool,
        )
        return tf.reduce_all(checks)

    def labels(self, transcripts):
        """`{"labels", "label_lengths"}` of a string scalar or batch."""
        transcripts = tf.convert_to_tensor(transcripts)
        scalar = transcripts.shape.rank == 0
        if scalar:
            transcripts = transcripts[tf.newaxis]
        code_points = tf.strings.unicode_decode(
            normalize_transcripts(transcripts), "UTF-8"
        )
        ids = code_points.with_flat_values(
            self._character_labels(code_points.flat_values)
        )
        # A character outside the vocabulary is left out.
        ids = tf.ragged.boolean_mask(ids, ids > 0)[:, : self.max_label_length]
        labels = ids.to_tensor(
            default_value=0, shape=[None, self.max_label_length]
        )
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        if scalar:
            return {"labels": labels[0], "label_lengths": lengths[0]}
        return {"labels": labels, "label_lengths": lengths}

    def _character_labels(self, code_points):
        """int32 labels of int32 code points: 0 for an unknown one."""
        table = tf.constant(self._sorted_code_points)
        position = tf.searchsorted(table, code_points)
        position = tf.minimum(position, len(self.vocabulary) - 1)
        known = tf.equal(tf.gather(table, position), code_points)
        labels = tf.gather(tf.constant(self._sorted_labels), position)
        return tf.where(known, labels, 0)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary=self.vocabulary, max_label_length=self.max_label_length
        )
        return config


@keras.saving.register_keras_serializable(package="mmkeras")
class SpeechRecognizer(Task):
    """A CTC speech recognizer over characters.

    The `AudioEncoder` turns the waveform into log-mel frames in the
    graph (with SpecAugment while training, when built with
    `spec_augment=True`), subsamples them 4x in time with convolutions
    and runs its transformer blocks; a dense head scores the CTC blank
    and each character per token. Trained with `losses.ctc_loss` on each
    example's true token and label counts; logits and loss are float32
    under every dtype policy. An example whose transcript cannot be
    aligned to its tokens (more characters than tokens) adds no loss
    instead of an infinite one.

    Decoding: greedy (`ctc_decoding.greedy_decode_tf`, in the serving and
    device signatures), or prefix beam search with shallow fusion of the
    character n-gram model kept in `metadata["char_lm"]`
    (`attach_language_model`), in `transcribe` and `evaluate_outputs`.

    Args:
        encoder: an `AudioEncoder`.
        vocabulary: list of str, the characters (class `i + 1` is
            `vocabulary[i]`).
        preprocessor: a `SpeechPreprocessor`, or None.
        metadata: dict of JSON values kept with the saved task.
        **kwargs: Base model arguments, e.g. `name` and `dtype`.

    Inputs:
        audio_waveform: float32 `(batch, samples)`; audio_mask: bool.

    Outputs:
        dict of float32 `logits` `(batch, tokens, len(vocabulary) + 1)`
        and int32 `logit_lengths` `(batch,)`, the real tokens.

    Example:
    >>> from mmkeras.models.speech_recognizer import SpeechRecognizer
    >>> from mmkeras.encoders import AudioEncoder
    >>> task = SpeechRecognizer(AudioEncoder(8000, 16), ["a", "b"])
    >>> outputs = task({"audio_waveform": np.zeros((1, 1600), "float32"),
    ...                 "audio_mask": np.ones((1, 1600), bool)})
    >>> outputs["logits"].shape, outputs["logits"].dtype
    (TensorShape([1, 3, 3]), tf.float32)
    """

    def __init__(
        self, encoder, vocabulary, preprocessor=None, metadata=None, **kwargs
    ):
        dtype = kwargs.pop("dtype", None)
        inputs = {
            "audio_waveform": keras.Input(
                (None,), dtype="float32", name="audio_waveform"
            ),
            "audio_mask": keras.Input((None,), dtype="bool", name="audio_mask"),
        }
        encoded = encoder(inputs)
        logits = keras.layers.Dense(
            len(vocabulary) + 1, dtype="float32", name="ctc_logits"
        )(encoded["sequence_output"])
        lengths = keras.ops.sum(
            keras.ops.cast(encoded["sequence_mask"], "int32"), axis=1
        )
        super().__init__(
            inputs=inputs,
            outputs={"logits": logits, "logit_lengths": lengths},
            preprocessor=preprocessor,
            metadata=metadata,
            dtype=dtype,
            **kwargs,
        )
        self.encoder = encoder
        self.vocabulary = list(vocabulary)

    @property
    def seconds_per_token(self):
        """Time between the logits' tokens, in seconds."""
        log_mel = self.encoder.get_layer("log_mel")
        stride = SUBSAMPLING_STRIDE**SUBSAMPLING_LAYERS
        return stride * log_mel.frame_step / log_mel.sample_rate

    def default_loss(self):
        return None  # `compute_loss` computes the CTC loss.

    def default_metrics(self):
        return None  # CER/WER are whole-set: `SpeechValidation`.

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        per_example = losses.ctc_loss(
            y["labels"],
            y_pred["logits"],
            y["label_lengths"],
            y_pred["logit_lengths"],
        )
        # An unalignable example (more characters than tokens) would add
        # a huge loss that teaches nothing.
        alignable = losses.ctc_alignable(
            y["labels"], y["label_lengths"], y_pred["logit_lengths"]
        )
        alignable = tf.logical_and(alignable, tf.math.is_finite(per_example))
        return self.own_loss_total(
            tf.reduce_mean(tf.where(alignable, per_example, 0.0))
        )

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return self.get_metrics_result()

    # Language model ---------------------------------------------------

    def attach_language_model(self, language_model, weight=DEFAULT_LM_WEIGHT):
        """Keeps a `CharLanguageModel` and its fusion weight in
        `metadata`, so the saved task decodes with it."""
        self.metadata[LM_KEY] = language_model.to_config()
        self.metadata[LM_WEIGHT_KEY] = float(weight)

    @property
    def language_model(self):
        config = self.metadata.get(LM_KEY)
        if config is None:
            return None
        cache = self.__dict__.setdefault("_lm_cache", {})
        if cache.get("config") is not config:
            cache["config"] = config
            cache["model"] = CharLanguageModel.from_config(config)
        return cache["model"]

    @property
    def lm_weight(self):
        return float(self.metadata.get(LM_WEIGHT_KEY, DEFAULT_LM_WEIGHT))

    # Decoding ---------------------------------------------------------

    def decode_outputs(self, logits, lengths):
        """Greedy decoding with alignment and word timestamps (TF ops)."""
        decoded = ctc_decoding.greedy_decode_tf(logits, lengths)
        chars = tf.constant([""] + self.vocabulary)
        ids = tf.RaggedTensor.from_tensor(
            decoded["token_ids"], lengths=decoded["token_counts"]
        )
        transcripts = tf.strings.reduce_join(tf.gather(chars, ids), axis=1)
        words = ctc_decoding.word_timestamps(
            decoded, self.vocabulary, self.seconds_per_token
        )
        tokens = tf.shape(decoded["token_ids"])[1]
        # Padded to the token count, so every batch has the same width.
        words = {
            key: _pad_columns(value, tokens)
            for key, value in words.items()
            if key != "word_counts"
        } | {"word_counts": words["word_counts"]}
        seconds = tf.constant(self.seconds_per_token, tf.float32)
        return {
            "transcripts": transcripts,
            "token_ids": decoded["token_ids"],
            "token_counts": decoded["token_counts"],
            "token_start_times": tf.cast(
                decoded["token_start_frames"], tf.float32
            )
            * seconds,
            "token_end_times": tf.cast(
                decoded["token_end_frames"] + 1, tf.float32
            )
            * seconds,
            **words,
        }

    def predict_raw(self, raw):
        """`serving_default`'s outputs for a batch of raw values."""
        return self._serve(
            {"audio": tf.convert_to_tensor(raw["audio"], tf.string)}
        )

    @tf.function(reduce_retracing=True)
    def _serve(self, raw):
        features = self.preprocessor({"audio": raw["audio"]})
        outputs = self(features, training=False)
        logits = outputs["logits"]
        lengths = outputs["logit_lengths"]
        return {
            **self.decode_outputs(logits, lengths),
            "log_probs": tf.nn.log_softmax(logits),
            "logit_lengths": lengths,
        }

    def transcribe(self, outputs, decoder="auto", beam_width=BEAM_WIDTH):
        """Transcripts (list of str) from `serving_default` outputs.

        Args:
            outputs: dict of numpy outputs, as `predict_raw` or a served
                model returns them.
            decoder: "greedy", "beam" (beam search, no LM), "beam_lm"
                (beam search with the task's language model) or "auto"
                ("beam_lm" when the task has a language model and the
                outputs hold `log_probs`, else "greedy").
        """
        has_scores = "log_probs" in outputs
        if decoder == "auto":
            decoder = (
                "beam_lm"
                if has_scores and self.language_model is not None
                else "greedy"
            )
        if decoder == "greedy":
            return _greedy_texts(outputs, self.vocabulary)
        if decoder not in ("beam", "beam_lm"):
            raise ValueError(
                "decoder must be 'auto', 'greedy', 'beam' or 'beam_lm', "
                f"received {decoder!r}."
            )
        if not has_scores:
            raise ValueError(
                f"decoder {decoder!r} needs `log_probs` in the outputs."
            )
        language_model = self.language_model if decoder == "beam_lm" else None
        if decoder == "beam_lm" and language_model is None:
            raise ValueError(
                "This task has no language model; train it with `mmkeras "
                "train --task speech` or call attach_language_model."
            )
        return [
            ctc_decoding.beam_search(
                scores[: int(length)],
                self.vocabulary,
                beam_width=beam_width,
                language_model=language_model,
                lm_weight=self.lm_weight,
            )
            for scores, length in zip(
                np.asarray(outputs["log_probs"]),
                np.asarray(outputs["logit_lengths"]),
                strict=True,
            )
        ]

    def serving_signatures(self):
        """`serving_default`: DT_STRING `audio` `(batch,)` WAV bytes to
        `transcripts` (greedy), `token_ids` and `token_counts`, token and
        word times (`words`, `word_start_times`, `word_end_times`,
        `word_counts`, padded to the token count), and float32
        `log_probs` with `logit_lengths` for beam search by the caller.
        """
        if self.preprocessor is None:
            raise ValueError(
                "This speech recognizer has no preprocessor, so it cannot "
                "serve WAV bytes; build it with preprocessor="
                "SpeechPreprocessor."
            )

        @tf.function(input_signature=[self.preprocessor.raw_input_specs()])
        def serve(raw):
            return self._serve(raw)

        return {"serving_default": serve}

    def evaluate_outputs(self, outputs, targets):
        """Whole-set CER and WER of `serving_default` (or device) outputs:
        greedy, and with beam search + the language model when the
        outputs hold `log_probs` and the task has a language model
        (`cer_lm`, `wer_lm`, and `lm_cer_gain`, the CER the LM removes)."""
        from mmkeras.metrics import error_rates

        references = [str(t) for t in targets]
        greedy = error_rates(
            references, _greedy_texts(outputs, self.vocabulary)
        )
        metrics = {
            "cer": greedy["cer"],
            "wer": greedy["wer"],
            "examples": len(references),
        }
        if "log_probs" in outputs and self.language_model is not None:
            fused = error_rates(references, self.transcribe(outputs, "beam_lm"))
            metrics.update(
                cer_lm=fused["cer"],
                wer_lm=fused["wer"],
                lm_cer_gain=greedy["cer"] - fused["cer"],
            )
        return metrics

    def device_signatures(self):
        """`serving_default` on float32 `audio_waveform` and bool
        `audio_mask` `(batch, samples)`: returns int32 `token_ids`
        (decoded greedily in the model, builtin ops only) and
        `token_counts`, float32 `log_probs` and int32 `logit_lengths`."""
        if self.preprocessor is None:
            raise ValueError(
                "This speech recognizer has no preprocessor, so it has no "
                "clip length for a device; build it with preprocessor="
                "SpeechPreprocessor."
            )
        samples = self.preprocessor.wav_decoder.num_samples
        specs = {
            "audio_waveform": tf.TensorSpec(
                [None, samples], tf.float32, "audio_waveform"
            ),
            "audio_mask": tf.TensorSpec([None, samples], tf.bool, "audio_mask"),
        }

        @tf.function(input_signature=[specs])
        def serve(inputs):
            outputs = self(inputs, training=False)
            decoded = ctc_decoding.greedy_decode_tf(
                outputs["logits"], outputs["logit_lengths"]
            )
            return {
                "token_ids": decoded["token_ids"],
                "token_counts": decoded["token_counts"],
                "log_probs": tf.nn.log_softmax(outputs["logits"]),
                "logit_lengths": outputs["logit_lengths"],
            }

        return {"serving_default": serve}

    def unsupported_quantizations(self):
        # Measured on the eSpeak NG demo (scripts/train_speech.py, 600
        # clips of held-out voices): int8 activations took the on-device
        # greedy CER from 0.0295 to 0.3677 (dynamic kept 0.0295).
        return {
            "int8": "int8 activations take a speech recognizer's greedy "
            "CER from 0.03 to 0.37 on the demo's held-out voices; use "
            "--quantize dynamic (int8 weights) or float16."
        }

    def device_inputs(self, raw):
        """The device signature's inputs (numpy) for raw WAV bytes."""
        features = self.preprocessor(
            {"audio": tf.convert_to_tensor(raw["audio"], tf.string)}
        )
        return {k: np.asarray(v) for k, v in features.items()}

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "vocabulary": self.vocabulary,
        }

    @classmethod
    def from_config(cls, config):
        config = cls._revive_preprocessor(config)
        config["encoder"] = keras.saving.deserialize_keras_object(
            config["encoder"]
        )
        return cls(**config)


def _greedy_texts(outputs, vocabulary):
    """Transcripts from `transcripts`, or from `token_ids` (device)."""
    if "transcripts" in outputs:
        return [
            t.decode("utf-8") if isinstance(t, bytes) else str(t)
            for t in np.asarray(outputs["transcripts"]).tolist()
        ]
    return [
        ctc_decoding.ids_to_text(ids[: int(count)], vocabulary)
        for ids, count in zip(
            np.asarray(outputs["token_ids"]),
            np.asarray(outputs["token_counts"]),
            strict=True,
        )
    ]


def _check_duration(clip, name, limit):
    def check():
        header = wav_header(clip)
        seconds = tf.cast(header["samples"], tf.float64) / tf.cast(
            tf.maximum(header["channels"] * header["sample_rate"], 1),
            tf.float64,
        )
        ok = tf.logical_or(
            tf.not_equal(header["error"], ""), seconds <= limit + 1e-6
        )
        return decode_limits.check(
            ok,
            lambda: decode_limits.message(
                name,
                " lasts ",
                tf.strings.as_string(seconds, precision=2),
                f" s, over the model's longest clip of {limit:g} s "
                "(clip_seconds); send a shorter clip, or train with a "
                "larger --clip-seconds.",
            ),
        )

    is_wav = tf.equal(tf.strings.substr(clip, 0, 4), "RIFF")
    return tf.cond(is_wav, check, lambda: tf.constant(True))


def _pad_columns(values, width):
    """`values` `(batch, n)` padded or cut to `(batch, width)`."""
    fill = "" if values.dtype == tf.string else -1.0
    values = values[:, :width]
    padding = width - tf.shape(values)[1]
    return tf.pad(values, [[0, 0], [0, padding]], constant_values=fill)
