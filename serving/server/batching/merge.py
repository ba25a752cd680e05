"""Merging requests' input arrays along dim 0 and splitting outputs back.

Padding follows TensorFlow Serving's batching session: a batch padded up to
an allowed size repeats its first row, and a variable-length input padded
to the batch's largest shape is filled with that request's first element
(so a model that masks or pools by max sees nothing new).
"""

import numpy as np

from serving.server import errors


def task_size(inputs):
    """The rows a request contributes, or None if it cannot be batched.

    A request is batchable when it has inputs and all of them share a
    non-zero dim 0; scalars or mismatched dim 0s run on their own.
    """
    sizes = {_dim0(array) for array in inputs.values()}
    if len(sizes) != 1:
        return None
    (size,) = sizes
    return size or None


def shape_key(inputs, pad_variable_length_inputs):
    """What requests must share to go in one batch besides the signature."""
    if pad_variable_length_inputs:
        return tuple((name, inputs[name].ndim) for name in sorted(inputs))
    return tuple((name, inputs[name].shape[1:]) for name in sorted(inputs))


def merge(tasks_inputs, batch_size, pad_variable_length_inputs):
    """Concatenates the tasks' inputs and pads dim 0 up to `batch_size`."""
    merged = {}
    for name in tasks_inputs[0]:
        arrays = [inputs[name] for inputs in tasks_inputs]
        if pad_variable_length_inputs:
            arrays = _pad_to_common_shape(arrays)
        array = np.concatenate(arrays, axis=0)
        missing = batch_size - array.shape[0]
        if missing:
            array = np.concatenate([array, np.repeat(array[:1], missing, 0)])
        merged[name] = array
    return merged


def split(outputs, sizes, batch_size):
    """Slices each output back into one dict per task.

    Raises:
        ServingError: INTERNAL if an output has no batch dimension of the
            merged size, since rows could not be attributed to requests.
    """
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != batch_size:
            raise errors.internal(
                f"Batched output tensor {name} has shape {list(array.shape)}"
                f", but its 0th dimension must equal the batch size "
                f"{batch_size}. Serve this signature with batching off."
            )
    offsets = np.cumsum([0, *sizes])
    return [
        {name: array[start:stop] for name, array in outputs.items()}
        for start, stop in zip(offsets[:-1], offsets[1:], strict=True)
    ]


def join(parts_outputs):
    """Concatenates the outputs of a split request's parts along dim 0.

    Raises:
        ServingError: INTERNAL if the parts' outputs differ beyond dim 0
            (parts padded to different lengths in different batches).
    """
    if len(parts_outputs) == 1:
        return parts_outputs[0]
    try:
        return {
            name: np.concatenate([outputs[name] for outputs in parts_outputs])
            for name in parts_outputs[0]
        }
    except ValueError as error:
        raise errors.internal(
            f"The parts of a split request gave outputs that cannot be "
            f"joined: {error}. Turn off pad_variable_length_inputs or "
            "enable_large_batch_splitting."
        ) from error


def _dim0(array):
    return array.shape[0] if array.ndim else None


def _pad_to_common_shape(arrays):
    target = np.max([array.shape[1:] for array in arrays], axis=0)
    return [_pad(array, target) for array in arrays]


def _pad(array, target):
    shape = (array.shape[0], *target)
    if array.shape == shape:
        return array
    fill = array.flat[0] if array.size else _zero(array.dtype)
    padded = np.full(shape, fill, dtype=array.dtype)
    padded[tuple(slice(0, size) for size in array.shape)] = array
    return padded


def _zero(dtype):
    return b"" if dtype.kind == "O" else np.zeros((), dtype)[()]
