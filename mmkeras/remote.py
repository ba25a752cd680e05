"""Querying a served mmkeras model with raw inputs over gRPC."""

import numpy as np

from mmkeras.export.saved_model import SIGNATURE_NAME


def request_inputs(raw):
    """numpy request tensors from a batch of raw values.

    Args:
        raw: dict of modality to a sequence of raw values: bytes or str
            per example, and for `video` a sequence of encoded frames per
            example (clips of different lengths are padded with b"").

    Returns:
        dict of modality to a numpy object array: `(batch,)`, or `(batch,
        frames)` for video.
    """
    inputs = {}
    for modality, values in raw.items():
        if modality == "video":
            inputs[modality] = _pad_clips(values)
        else:
            inputs[modality] = np.array(
                [_as_bytes(v) for v in values], dtype=object
            )
    return inputs


def _pad_clips(clips):
    clips = [[_as_bytes(frame) for frame in clip] for clip in clips]
    width = max([len(clip) for clip in clips] + [1])
    padded = np.full((len(clips), width), b"", dtype=object)
    for row, clip in enumerate(clips):
        padded[row, : len(clip)] = clip
    return padded


def _as_bytes(value):
    if isinstance(value, str):
        return value.encode("utf-8")
    return bytes(value)


def served_modalities(client, model_name):
    """The raw inputs (modalities) of a served model's `serving_default`."""
    signatures = client.metadata(model_name)
    return sorted(signatures[SIGNATURE_NAME]["inputs"])


def predict_raw(client, model_name, raw):
    """Sends a batch of raw values; returns the response's numpy arrays.

    Modalities the model reads but `raw` lacks are sent empty (missing).
    """
    return client.predict(model_name, request_inputs(raw))
