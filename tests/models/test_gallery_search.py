import re
import tracemalloc

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.models.gallery_search import search
from mmkeras.models.gallery_search import search_numpy

SIZE, WIDTH = 23, 4
CHUNK_SIZES = [1, 7, SIZE, SIZE + 3]


def _integer_data(seed=0, num_queries=5):
    """Small integers: exact dot products, with many equal scores."""
    rng = np.random.default_rng(seed)
    queries = rng.integers(-2, 3, (num_queries, WIDTH)).astype("float32")
    gallery = rng.integers(-2, 3, (SIZE, WIDTH)).astype("float32")
    gallery[9] = gallery[2]  # a duplicate row ties everywhere
    return queries, gallery


def _full_sort(queries, gallery, k):
    """One matmul and a stable argsort: ties go to the lower row."""
    scores = queries @ gallery.T
    rows = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, rows, axis=1), rows


def _assert_same(actual, expected):
    scores, indices = (np.asarray(a) for a in actual)
    assert scores.dtype == np.float32 and indices.dtype == np.int64
    np.testing.assert_array_equal(scores, expected[0])
    np.testing.assert_array_equal(indices, expected[1])


@pytest.mark.parametrize("k", [1, 5, SIZE])
@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_eager_search_equals_full_sort(chunk_size, k):
    queries, gallery = _integer_data()
    _assert_same(
        search(queries, gallery, k, chunk_size=chunk_size),
        _full_sort(queries, gallery, k),
    )


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_graph_search_of_a_variable_equals_full_sort(chunk_size):
    queries, gallery = _integer_data(seed=1)
    variable = tf.Variable(gallery, trainable=False)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.float32),
            tf.TensorSpec([], tf.int32),
        ]
    )
    def run(queries, k):
        return search(queries, variable, k, chunk_size=chunk_size)

    for k in (1, 6, SIZE):
        _assert_same(run(queries, k), _full_sort(queries, gallery, k))


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_float_scores_are_consistent(chunk_size):
    rng = np.random.default_rng(2)
    queries = rng.normal(size=(3, 8)).astype("float32")
    gallery = rng.normal(size=(50, 8)).astype("float32")
    scores, indices = (
        np.asarray(a) for a in search(queries, gallery, 10, chunk_size)
    )
    expected_scores, expected_indices = _full_sort(queries, gallery, 10)
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5)
    # Each score is its row's, best first.
    recomputed = np.einsum("qd,qkd->qk", queries, gallery[indices])
    np.testing.assert_allclose(scores, recomputed, rtol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 0)


@pytest.mark.parametrize("k", [1, 5, SIZE])
@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_numpy_search_equals_tf_search(chunk_size, k):
    queries, gallery = _integer_data(seed=3)
    _assert_same(
        search_numpy(queries, gallery, k, chunk_size=chunk_size),
        search(queries, gallery, k, chunk_size=chunk_size),
    )


def test_a_float16_gallery_gives_float32_scores():
    queries, gallery = _integer_data(seed=4)
    _assert_same(
        search(queries, tf.Variable(gallery.astype("float16")), 4, 5),
        _full_sort(queries, gallery, 4),
    )


def test_numpy_search_of_a_memory_map_reads_a_chunk_at_a_time(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "gallery.npy"
    np.save(path, rng.normal(size=(100_000, 16)).astype("float32"))  # 6.4 MB
    queries = rng.normal(size=(3, 16)).astype("float32")
    gallery = np.load(path, mmap_mode="r")
    tracemalloc.start()
    try:
        scores, indices = search_numpy(queries, gallery, 5, chunk_size=2048)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A 2048 x 16 float32 chunk is 128 KB; the whole gallery 6.4 MB.
    assert peak < 1_000_000
    expected = _full_sort(queries, np.asarray(gallery), 5)
    np.testing.assert_array_equal(indices, expected[1])
    np.testing.assert_allclose(scores, expected[0], rtol=1e-5)


def test_search_runs_in_a_saved_model_signature(tmp_path):
    queries, gallery = _integer_data(seed=6)
    module = tf.Module()
    module.gallery = tf.Variable(gallery, trainable=False)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, WIDTH], tf.float32),
            tf.TensorSpec([], tf.int32),
        ]
    )
    def search_gallery(queries, k):
        scores, indices = search(queries, module.gallery, k, chunk_size=4)
        return {"scores": scores, "indices": indices}

    module.search = search_gallery
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    outputs = loaded.search(queries, tf.constant(3))
    _assert_same(
        (outputs["scores"], outputs["indices"]), _full_sort(queries, gallery, 3)
    )
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=re.escape("k=30 is larger than the gallery (23 embeddings)"),
    ):
        loaded.search(queries, tf.constant(30))


BAD_ARGUMENTS = [
    (20, (3, 64), (12, 64), "k=20 is larger than the gallery (12 embeddings)"),
    (0, (3, 64), (12, 64), "k=0 must be at least 1"),
    (
        2,
        (3, 32),
        (12, 64),
        "queries have width 32 but the gallery has width 64; was the "
        "gallery built by another model?",
    ),
    (2, (0, 64), (12, 64), "queries are empty (0 rows)"),
    (2, (3, 64, 1), (12, 64), "queries must be a (rows, width) matrix"),
]


@pytest.mark.parametrize(
    "k, query_shape, gallery_shape, message", BAD_ARGUMENTS
)
@pytest.mark.parametrize("search_fn", [search, search_numpy])
def test_bad_arguments_are_refused_eagerly(
    search_fn, k, query_shape, gallery_shape, message
):
    queries, gallery = np.ones(query_shape), np.ones(gallery_shape)
    with pytest.raises(ValueError, match=re.escape(message)):
        search_fn(queries, gallery, k)


@pytest.mark.parametrize(
    "k, query_shape, gallery_shape, message", BAD_ARGUMENTS[:4]
)
def test_bad_arguments_fail_at_run_time_in_a_graph(
    k, query_shape, gallery_shape, message
):
    variable = tf.Variable(np.ones(gallery_shape, "float32"))

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.float32),
            tf.TensorSpec([], tf.int32),
        ]
    )
    def run(queries, k):
        return search(queries, variable, k)

    with pytest.raises(
        tf.errors.InvalidArgumentError, match=re.escape(message)
    ):
        run(np.ones(query_shape, "float32"), k)


def test_widths_known_when_tracing_are_refused_when_tracing():
    variable = tf.Variable(np.ones((12, 64), "float32"))
    run = tf.function(lambda queries: search(queries, variable, 2))
    with pytest.raises(ValueError, match="queries have width 32 but"):
        run.get_concrete_function(tf.TensorSpec([None, 32], tf.float32))


@pytest.mark.parametrize("num_queries", [1, 3])
def test_the_default_chunks_follow_the_score_budget(num_queries, monkeypatch):
    from mmkeras.models import gallery_search

    queries, gallery = _integer_data(seed=2, num_queries=num_queries)
    # 24 bytes of scores: 6 rows for one query, 2 rows each for three.
    monkeypatch.setattr(gallery_search, "SCORE_BUDGET_BYTES", 24)
    variable = tf.Variable(gallery, trainable=False)
    run = tf.function(lambda q: search(q, variable, 4))
    for result in (search(queries, gallery, 4), run(queries)):
        _assert_same(result, _full_sort(queries, gallery, 4))
