"""Base class for mmkeras's functional-API models."""

import keras


class FunctionalModel(keras.Model):
    """A functional `keras.Model` that keeps its dtype policy in its config.

    A functional model's layers get their policy where they are created;
    the model object itself would otherwise report float32 and forget the
    policy when saved. Subclasses pass `dtype` through and extend
    `get_config`.
    """

    def __init__(self, *args, dtype=None, **kwargs):
        super().__init__(*args, **kwargs)
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }
