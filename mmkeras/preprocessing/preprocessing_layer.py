"""The base of every preprocessing layer: TF ops on raw values."""

import keras

from mmkeras.preprocessing.decode_limits import positive_limit


class PreprocessingLayer(keras.layers.Layer):
    """A layer of TF ops that takes raw values (bytes, strings, pixels).

    One instance serves `tf.data.Dataset.map` (one example per call) and an
    exported serving signature (a batch), so training and serving see the
    same inputs. Raw values are not floats: Keras must neither cast nor
    convert them, and the layer has no weights to build.

    Sublayers passed to `__init__` are serialized by `get_config` when a
    subclass lists their argument names in `sublayer_args`; `from_config`
    revives them, and an argument left as None stays None.

    A layer that decodes lists the arguments that bound what one input may
    decode to in `limit_args` (see `decode_limits`): `DecodeLimits` sets
    them through `sublayer_args`, and `check_limits` validates them.
    """

    sublayer_args = ()
    limit_args = ()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    @property
    def train_fields(self):
        """The raw target fields that training maps into targets: the
        `label_field` (which evaluation reads too), unless a subclass
        trains on other fields than it is measured on."""
        return (self.label_field,)

    def check_limits(self):
        """Raises ValueError unless every limit is a positive int."""
        for name in self.limit_args:
            positive_limit(getattr(self, name), name)

    def get_config(self):
        config = super().get_config()
        for name in self.sublayer_args:
            value = getattr(self, name)
            config[name] = (
                None
                if value is None
                else keras.saving.serialize_keras_object(value)
            )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in cls.sublayer_args:
            if config.get(name) is not None:
                config[name] = keras.saving.deserialize_keras_object(
                    config[name]
                )
        return cls(**config)
