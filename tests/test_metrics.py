import itertools
import re

import numpy as np
import pytest

from mmkeras.metrics import chance_metrics
from mmkeras.metrics import retrieval_metrics

# Captions per image, unequal, with two images that have none.
CAPTION_COUNTS = [3, 1, 0, 2, 4, 1, 0, 2]


def _caption_index(rng, counts=CAPTION_COUNTS):
    index = np.repeat(np.arange(len(counts)), counts)
    return rng.permutation(index)


def _integer_embeddings(rng, rows, dim=3):
    """Small integers: every dot product is exact, so ties are real ties."""
    return rng.integers(-2, 3, size=(rows, dim)).astype("float32")


def _with_duplicates(embeddings, pairs):
    embeddings = embeddings.copy()
    for copy, original in pairs:
        embeddings[copy] = embeddings[original]
    return embeddings


def _reference_ranks(images, texts, index):
    """Ranks by counting, one query and one candidate at a time."""
    text_ranks = []
    for t, text in enumerate(texts):
        true_score = np.dot(text, images[index[t]])
        beaten_by = 0
        for i, image in enumerate(images):
            if i != index[t] and np.dot(text, image) >= true_score:
                beaten_by += 1
        text_ranks.append(1 + beaten_by)
    image_ranks = []
    for i, image in enumerate(images):
        true_texts = [t for t in range(len(texts)) if index[t] == i]
        if not true_texts:
            continue
        ranks = []
        for t in true_texts:
            true_score = np.dot(image, texts[t])
            beaten_by = 0
            for u, other in enumerate(texts):
                if index[u] != i and np.dot(image, other) >= true_score:
                    beaten_by += 1
            ranks.append(1 + beaten_by)
        image_ranks.append(min(ranks))
    return np.array(text_ranks), np.array(image_ranks)


def _summaries(text_ranks, image_ranks):
    metrics = {}
    for direction, ranks in (
        ("text_to_image", text_ranks),
        ("image_to_text", image_ranks),
    ):
        for k in (1, 5, 10):
            metrics[f"{direction}_r{k}"] = np.mean(ranks <= k)
        metrics[f"{direction}_mrr"] = np.mean(1.0 / ranks)
        metrics[f"{direction}_median_rank"] = np.median(ranks)
    return metrics


def _assert_metrics_close(actual, expected, atol=1e-12):
    assert set(actual) == set(expected)
    for key in expected:
        assert all(isinstance(v, float) for v in actual.values())
        np.testing.assert_allclose(actual[key], expected[key], atol=atol)


def test_matches_counting_reference_with_ties():
    rng = np.random.default_rng(0)
    index = _caption_index(rng)
    # Duplicate images and duplicate captions (of other images) tie exactly.
    images = _with_duplicates(_integer_embeddings(rng, 8), [(5, 0), (7, 3)])
    texts = _with_duplicates(
        _integer_embeddings(rng, len(index)), [(4, 0), (9, 2)]
    )
    expected = _summaries(*_reference_ranks(images, texts, index))
    _assert_metrics_close(retrieval_metrics(images, texts, index), expected)


def test_matches_counting_reference_on_float_embeddings():
    rng = np.random.default_rng(1)
    index = _caption_index(rng, [2, 5, 1, 1, 3, 0, 2, 1, 1, 4, 2, 1])
    images = rng.normal(size=(12, 6)).astype("float32")
    texts = rng.normal(size=(len(index), 6)).astype("float32")
    expected = _summaries(*_reference_ranks(images, texts, index))
    _assert_metrics_close(retrieval_metrics(images, texts, index), expected)


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 1000])
def test_chunked_equals_unchunked(chunk_size):
    rng = np.random.default_rng(2)
    index = _caption_index(rng)
    images = _integer_embeddings(rng, 8)
    texts = _integer_embeddings(rng, len(index))
    assert retrieval_metrics(
        images, texts, index, chunk_size=chunk_size
    ) == retrieval_metrics(images, texts, index, chunk_size=len(texts))


def test_a_constant_model_ranks_last():
    index = np.array([0, 0, 1, 2, 2, 2])
    images, texts = np.ones((3, 4)), np.ones((6, 4))
    metrics = retrieval_metrics(images, texts, index)
    # Every image ties with the right one: rank 3 of 3.
    assert metrics["text_to_image_r1"] == 0.0
    assert metrics["text_to_image_median_rank"] == 3.0
    # An image with c of the 6 captions is beaten by the 6 - c others.
    assert metrics["image_to_text_median_rank"] == 5.0  # ranks 5, 6, 4
    assert metrics["image_to_text_mrr"] == pytest.approx(
        (1 / 5 + 1 / 6 + 1 / 4) / 3
    )


def test_an_image_ranks_by_its_best_caption():
    images = np.array([[1.0, 0.0], [0.0, 1.0]])
    # Image 0's captions score 0.2 and 0.9; image 1's caption scores 0.5.
    texts = np.array([[0.2, 0.0], [0.9, 0.0], [0.5, 1.0]])
    metrics = retrieval_metrics(images, texts, [0, 0, 1])
    assert metrics["image_to_text_r1"] == 1.0


def test_chance_of_uniform_ranks_by_formula():
    chance = chance_metrics(4, num_texts_per_image=1)
    assert chance["text_to_image_r1"] == pytest.approx(1 / 4)
    assert chance["text_to_image_r5"] == pytest.approx(1.0)
    assert chance["text_to_image_mrr"] == pytest.approx(
        (1 + 1 / 2 + 1 / 3 + 1 / 4) / 4
    )
    assert chance["text_to_image_median_rank"] == 2.5
    assert chance_metrics(5, 2)["text_to_image_median_rank"] == 3.0


@pytest.mark.parametrize("counts", [[2, 2], [1, 2, 0, 3], [3, 1, 1]])
def test_chance_image_to_text_by_enumerating_every_order(counts):
    index = np.repeat(np.arange(len(counts)), counts)
    ranks = []
    for order in itertools.permutations(range(len(index))):
        positions = np.array(order) + 1  # caption t is ranked positions[t]
        for image, count in enumerate(counts):
            if count:
                ranks.append(positions[index == image].min())
    ranks = np.array(ranks)
    chance = chance_metrics(len(counts), text_image_index=index)
    for k in (1, 5, 10):
        assert chance[f"image_to_text_r{k}"] == pytest.approx(
            np.mean(ranks <= k)
        )
    assert chance["image_to_text_mrr"] == pytest.approx(np.mean(1 / ranks))
    assert chance["image_to_text_median_rank"] == np.median(ranks)


def test_chance_matches_random_embeddings():
    """An untrained model's metrics average to `chance_metrics`."""
    rng = np.random.default_rng(3)
    counts = [1, 2, 3, 5, 0, 1, 2, 2, 4, 1] * 3
    index = np.repeat(np.arange(len(counts)), counts)
    trials = [
        retrieval_metrics(
            rng.normal(size=(len(counts), 16)),
            rng.normal(size=(len(index), 16)),
            index,
        )
        for _ in range(300)
    ]
    chance = chance_metrics(len(counts), text_image_index=index)
    for key, expected in chance.items():
        estimate = np.mean([trial[key] for trial in trials])
        tolerance = 1.0 if key.endswith("median_rank") else 0.02
        assert estimate == pytest.approx(expected, abs=tolerance), key


@pytest.mark.parametrize(
    "images, texts, index, message",
    [
        (np.ones((2, 3)), np.ones((2, 4)), [0, 1], "have width 3 but"),
        (np.ones((2, 3)), np.ones((2, 3)), [0, 2], "[1] = 2 is not a row"),
        (np.ones((2, 3)), np.ones((2, 3)), [0, -1], "[1] = -1 is not a row"),
        (np.ones((2, 3)), np.ones((3, 3)), [0, 1], "has 2 entries but"),
        (np.ones((0, 3)), np.ones((2, 3)), [0, 1], "image_embeddings must"),
        (np.ones((2, 3)), np.ones((0, 3)), [], "text_embeddings must"),
        (np.ones((2, 3)), np.ones((2, 3)), [0.0, 1.0], "must hold ints"),
        (np.ones(3), np.ones((2, 3)), [0, 1], "non-empty (rows, dim)"),
        (np.full((2, 3), np.nan), np.ones((2, 3)), [0, 1], "NaN"),
    ],
)
def test_bad_inputs_are_refused(images, texts, index, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        retrieval_metrics(images, texts, index)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((3,), {}, "exactly one of"),
        ((3, 2), {"text_image_index": [0]}, "exactly one of"),
        ((3, 0), {}, "num_texts_per_image must be"),
        ((0, 1), {}, "num_images must be"),
        ((2,), {"text_image_index": [0, 2]}, "is not a row"),
    ],
)
def test_bad_chance_arguments_are_refused(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        chance_metrics(*args, **kwargs)
