import math

import numpy as np
import pytest

from mmkeras.export import search_bench
from mmkeras.models.gallery_search import search


@pytest.fixture(scope="module")
def result():
    task = search_bench.build_task()
    gallery = search_bench.random_gallery(300, seed=1)
    return search_bench.measure_gallery(
        task, gallery, batches=(1, 3), repeats=2, k=5, run_seconds=0.01
    )


def test_random_gallery_is_unit_float32_with_string_ids():
    gallery = search_bench.random_gallery(7, width=4)
    assert gallery.embeddings.dtype == np.float32
    np.testing.assert_allclose(
        np.linalg.norm(gallery.embeddings, axis=1), 1.0, rtol=1e-6
    )
    assert list(gallery.ids[:2]) == ["item-0", "item-1"]
    assert gallery.paths[6] == "images/6.jpg"


def test_numpy_search_equals_the_library_search():
    gallery = search_bench.random_gallery(500, width=8, seed=2)
    queries = search_bench.random_gallery(4, width=8, seed=3).embeddings
    ids, scores = search_bench.numpy_search(
        queries, gallery.embeddings, gallery.ids, 6
    )
    expected_scores, rows = (
        np.asarray(a) for a in search(queries, gallery.embeddings, 6)
    )
    np.testing.assert_array_equal(ids, gallery.ids[rows])
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5)


def test_interleaved_runs_time_every_call_in_turn():
    order = []
    seconds = search_bench.interleaved_runs(
        {"a": lambda: order.append("a"), "b": lambda: order.append("b")},
        repeats=3,
        run_seconds=0,
        warmup=1,
    )
    # Warmup and one calibration call each, then A, B, A, B, A, B.
    assert order == ["a", "a", "b", "b"] + ["a", "b"] * 3
    assert {name: len(s) for name, s in seconds.items()} == {"a": 3, "b": 3}


def test_the_signature_and_numpy_find_the_same_items(result):
    assert result["size"] == 300
    assert [row["batch"] for row in result["rows"]] == [1, 3]
    for row in result["rows"]:
        assert row["mismatches"] == 0
        assert row["max_score_error"] < 1e-5


def test_rates_and_ratios_are_sane(result):
    for row in result["rows"]:
        for method in search_bench.METHODS:
            assert len(row["seconds"][method]) == 2
            assert row[method] > 0 and math.isfinite(row[method])
            assert row["spread"][method] >= 0
        assert row["total_ratio"] > 0 and math.isfinite(row["total_ratio"])
        # On a tiny gallery search-only can drown in noise: NaN then.
        for key in ("search_only", "search_ratio"):
            assert math.isnan(row[key]) or row[key] > 0
    assert result["gallery_bytes"] >= 300 * 64 * 4
    # The gallery embeddings are variables of the SavedModel.
    assert result["saved_model_bytes"] > 300 * 64 * 4


def test_the_report_has_a_line_per_gallery_and_batch(result):
    report = search_bench.format_report([result], k=5)
    assert "top-5" in report
    starts = [line.split()[:2] for line in report.splitlines()]
    assert starts.count(["300", "1"]) == starts.count(["300", "3"]) == 1
    assert "300 items: gallery in memory" in report
    assert "SavedModel on disk" in report
