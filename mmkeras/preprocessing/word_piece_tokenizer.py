"""A word-piece tokenizer layer built on tensorflow_text."""

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from mmkeras.preprocessing import decode_limits
from mmkeras.preprocessing.preprocessing_layer import PreprocessingLayer
from mmkeras.preprocessing.vocabulary import PAD_TOKEN
from mmkeras.preprocessing.vocabulary import SPECIAL_TOKENS
from mmkeras.preprocessing.vocabulary import SUFFIX_INDICATOR
from mmkeras.preprocessing.vocabulary import UNKNOWN_TOKEN


@keras.saving.register_keras_serializable(package="mmkeras")
class WordPieceTokenizer(PreprocessingLayer):
    """Turns raw strings into fixed-length token ids and a padding mask.

    Uses tensorflow_text's FastBertTokenizer (lower-casing, accent
    stripping, punctuation splitting, then fast word-piece), whose ops also
    run in TFLite. The layer is made of TF ops only, so the same instance
    works eagerly, inside `tf.data.Dataset.map` and inside an exported
    serving signature. The vocabulary is part of the config, so it travels
    with a saved model.

    Args:
        vocabulary: list of str. Id 0 must be `[PAD]` and the list must
            contain `[UNK]`; see `learn_vocabulary`.
        sequence_length: int. Outputs are truncated or padded to this
            length.
        max_text_bytes: int or None. Longest text accepted, in bytes
            (UTF-8); a longer one fails with
            `tf.errors.InvalidArgumentError` before it is tokenized. None:
            256 bytes per token of `sequence_length`.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: a string tensor, scalar `()` or batched `(batch,)`.

    Returns:
        dict with `token_ids` (int32) and `padding_mask` (bool), shaped
        `(sequence_length,)` or `(batch, sequence_length)`.

    Example:
    >>> tokenizer = WordPieceTokenizer(
    ...     ["[PAD]", "[UNK]", "a", "red", "circle", "##s"], sequence_length=4
    ... )
    >>> tokenizer(tf.constant("A red circles"))["token_ids"].numpy()
    array([2, 3, 4, 5], dtype=int32)
    """

    limit_args = ("max_text_bytes",)

    def __init__(
        self, vocabulary, sequence_length, max_text_bytes=None, **kwargs
    ):
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        vocabulary = list(vocabulary)
        if not vocabulary or vocabulary[0] != PAD_TOKEN:
            raise ValueError(
                f"vocabulary[0] must be '{PAD_TOKEN}' (id 0 is padding), "
                f"received {vocabulary[:1]!r}."
            )
        if UNKNOWN_TOKEN not in vocabulary:
            raise ValueError(f"vocabulary must contain '{UNKNOWN_TOKEN}'.")
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("vocabulary has duplicate tokens.")
        if sequence_length < 1:
            raise ValueError(
                f"sequence_length must be positive, received {sequence_length}."
            )
        self.vocabulary = vocabulary
        self.sequence_length = sequence_length
        self.max_text_bytes = (
            max_text_bytes
            or decode_limits.default_max_text_bytes(sequence_length)
        )
        self.check_limits()
        self._tokenizer = tf_text.FastBertTokenizer(
            vocab=vocabulary,
            suffix_indicator=SUFFIX_INDICATOR,
            unknown_token=UNKNOWN_TOKEN,
            token_out_type=tf.int32,
            lower_case_nfd_strip_accents=True,
        )

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    @property
    def special_token_ids(self):
        return [self.vocabulary.index(t) for t in SPECIAL_TOKENS]

    def call(self, inputs):
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype != tf.string:
            raise TypeError(
                f"WordPieceTokenizer expects a string tensor, received dtype "
                f"{inputs.dtype.name}."
            )
        scalar = inputs.shape.rank == 0
        if scalar:
            inputs = inputs[None]
        elif inputs.shape.rank != 1:
            raise ValueError(
                "WordPieceTokenizer expects a scalar or a (batch,) string "
                f"tensor, received shape {inputs.shape}."
            )
        with tf.control_dependencies([self._check_length(inputs)]):
            pieces = self._tokenizer.tokenize(inputs)
        # FastBertTokenizer returns (batch, words, pieces); ids are per piece.
        if pieces.shape.rank == 3:
            pieces = pieces.merge_dims(1, 2)
        token_ids = pieces.to_tensor(
            default_value=0, shape=[None, self.sequence_length]
        )
        outputs = {"token_ids": token_ids, "padding_mask": token_ids != 0}
        if scalar:
            outputs = {k: v[0] for k, v in outputs.items()}
        return outputs

    def piece_counts(self, texts):
        """int64 `(batch,)`: each text's word pieces before truncation to
        `sequence_length`, to tell whether it is long enough."""
        pieces = self._tokenizer.tokenize(tf.convert_to_tensor(texts))
        if pieces.shape.rank == 3:
            pieces = pieces.merge_dims(1, 2)
        return pieces.row_lengths()

    def _check_length(self, texts):
        lengths = tf.cast(tf.strings.length(texts), tf.int64)
        # A zero length at the end keeps an empty batch well defined.
        lengths = tf.concat([lengths, [0]], axis=0)
        longest = tf.argmax(lengths, output_type=tf.int32)
        return decode_limits.check_limit(
            lengths[longest],
            self.max_text_bytes,
            "max_text_bytes",
            lambda: decode_limits.message(
                "text ", longest, " is ", lengths[longest], " bytes"
            ),
            "send a shorter text",
        )

    def compute_output_spec(self, inputs):
        shape = tuple(inputs.shape) + (self.sequence_length,)
        return {
            "token_ids": keras.KerasTensor(shape, "int32"),
            "padding_mask": keras.KerasTensor(shape, "bool"),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary=self.vocabulary,
            sequence_length=self.sequence_length,
            max_text_bytes=self.max_text_bytes,
        )
        return config
