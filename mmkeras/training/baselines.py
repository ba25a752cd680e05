"""What a user could do instead of fusion, measured the same way.

A fused classifier earns its place only if it beats, on the same held-out
examples, a model per modality trained the same way, and late fusion: the
mean of those models' probabilities.
"""

import dataclasses
import os

import numpy as np


def single_modality_config(config, modality):
    """`config` for a model of `modality` alone, in a subdirectory."""
    return dataclasses.replace(
        config,
        modalities=(modality,),
        modality_dropout=0.0,
        output_dir=os.path.join(config.output_dir, f"only_{modality}"),
    )


def all_probabilities(outputs, answered, num_classes):
    """Probabilities for every example: uniform where none was answered.

    A model whose modalities an example lacks has nothing to go on; the
    honest stand-in is a uniform guess.
    """
    probabilities = np.full((len(answered), num_classes), 1.0 / num_classes)
    probabilities[answered] = outputs["probabilities"]
    return probabilities


def late_fusion(probabilities, answered):
    """Mean of the probabilities of the models that could answer.

    Args:
        probabilities: list of `(examples, classes)` arrays, one per model.
        answered: list of bool `(examples,)` arrays, one per model.

    Returns:
        `(examples, classes)`: per example, the mean over the models that
        answered it (uniform where none did).

    Example:
    >>> late_fusion(
    ...     [np.array([[0.8, 0.2]]), np.array([[0.4, 0.6]])],
    ...     [np.array([True]), np.array([False])],
    ... )
    array([[0.8, 0.2]])
    """
    stacked = np.stack(probabilities)
    weights = np.stack(answered).astype(float)[..., None]
    total = weights.sum(axis=0)
    mean = (stacked * weights).sum(axis=0) / np.maximum(total, 1.0)
    uniform = np.full_like(mean, 1.0 / mean.shape[1])
    return np.where(total > 0, mean, uniform)


def accuracy(probabilities, targets, class_names):
    """Fraction of examples whose most probable class is the target."""
    truth = np.array([class_names.index(t) for t in targets])
    return float(np.mean(np.argmax(probabilities, axis=1) == truth))
