"""A model's training state in one `.npz` file, written fast and atomically.

Keras' `save_weights` walks the whole object graph (every attribute of
every layer, the preprocessor's included) on each call: about half a
second for the demo classifier, paid at every epoch's backup. The state a
resumed run needs is only the variables' values, so a snapshot writes
those, in the order the model and optimizer list them (a model built from the
same config lists the same variables; layer names may differ, as Keras
numbers unnamed layers per process). A snapshot of another model, found
by its count or shapes, is refused with the variable named.
"""

import os
import zipfile

import keras
import numpy as np


def training_variables(model):
    """The variables a resumed run restores: the model's (weights, seed
    generator and metric states) and its optimizer's."""
    variables = list(model.variables)
    if model.optimizer is not None:
        variables += list(model.optimizer.variables)
    return variables


def save_snapshot(path, variables):
    """Writes `variables`' values to `path` (an `.npz` file) atomically: a
    reader sees the previous file or the new one, never a part."""
    arrays = {
        f"{index:05d}": keras.ops.convert_to_numpy(variable)
        for index, variable in enumerate(variables)
    }
    partial = f"{path}.partial"
    with open(partial, "wb") as f:
        np.savez(f, **arrays)
    os.replace(partial, path)


def load_snapshot(path, variables):
    """Assigns the values `save_snapshot` wrote to `variables`.

    Raises:
        OSError: `path` cannot be read (e.g. truncated).
        ValueError: the snapshot holds other variables (another model).
    """
    try:
        with np.load(path) as data:
            values = [data[name] for name in sorted(data.files)]
    except (ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise OSError(f"{path} cannot be read: {error}") from None
    if len(values) != len(variables):
        raise ValueError(
            f"{path} holds {len(values)} variables; this model has "
            f"{len(variables)}: it is a snapshot of another model."
        )
    for variable, value in zip(variables, values, strict=True):
        if tuple(variable.shape) != value.shape:
            raise ValueError(
                f"{path}: variable {variable.path} has shape "
                f"{tuple(variable.shape)}, the snapshot's {value.shape}: it "
                "is a snapshot of another model."
            )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
