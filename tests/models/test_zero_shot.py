import numpy as np
import pytest

from mmkeras.models.zero_shot import class_embeddings
from mmkeras.models.zero_shot import top_k_accuracy


class _Prompts:
    """A stand-in tower: fixed unit embeddings per prompt string."""

    def __init__(self, table):
        self.table = table

    def embed(self, modality, prompts):
        assert modality == "text"
        return np.array([self.table[p] for p in prompts], np.float32)


def test_class_embedding_is_the_normalised_mean_of_its_prompts():
    table = {
        "a cat": [1.0, 0.0],
        "one cat": [0.0, 1.0],
        "a dog": [0.6, 0.8],
        "one dog": [0.6, 0.8],
    }
    classes = class_embeddings(
        _Prompts(table), ["cat", "dog"], ["a {}", "one {}"]
    )
    np.testing.assert_allclose(
        classes, [[0.5**0.5, 0.5**0.5], [0.6, 0.8]], atol=1e-6
    )


def test_top_k_counts_ties_against_the_item():
    classes = np.eye(3, dtype=np.float32)
    embeddings = np.array([[1, 0, 0], [0.5, 0.5, 0], [0, 0.2, 0.9]])
    labels = np.array([0, 1, 1])
    # Item 0: rank 1. Item 1: tied with class 0, so rank 2. Item 2: rank 2.
    assert top_k_accuracy(embeddings, labels, classes, ks=(1, 2)) == {
        "top1": pytest.approx(1 / 3),
        "top2": 1.0,
    }


def test_templates_need_one_slot():
    with pytest.raises(ValueError, match="exactly one"):
        class_embeddings(_Prompts({}), ["cat"], ["a photo"])
