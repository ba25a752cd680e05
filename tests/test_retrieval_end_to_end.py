"""Retrieval through the `mmkeras` command, on the scene demo data:
make-demo-data -> train -> evaluate -> index -> search -> export with a
gallery -> mmkeras-model-server -> embed and search over gRPC."""

import re

import grpc
import numpy as np
import pytest
import tensorflow as tf

from mmkeras.metrics import chance_metrics
from mmkeras.models import dual_encoder
from mmkeras.models import load_gallery
from mmkeras.training import load_task
from mmkeras.training.retrieval import read_pairs
from serving.client import PredictionClient
from serving.process import ModelServerProcess
from tests.test_case import run_mmkeras
from tests.test_case import succeeded

pytestmark = pytest.mark.slow

TEST_IMAGES = 50
TRAIN_FLAGS = (
    "--task=retrieve",
    "--image-size=48",
    "--sequence-length=36",
    "--hidden-dim=32",
    "--num-layers=2",
    "--num-heads=4",
    "--batch-size=32",
    "--learning-rate=3e-3",
    "--epochs=10",
    # float32 whatever precision=auto picks here: these tests compare the
    # served and device models with the local one to float32 rounding
    # (tests/test_end_to_end.py checks a bfloat16 task's served outputs).
    "--precision=float32",
)


def _user_error(completed, fragment):
    """A one-line error on stderr naming `fragment`, exit status 1."""
    assert completed.returncode == 1, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], completed.stderr


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("retrieval")
    succeeded(
        run_mmkeras(
            "make-demo-data",
            workdir / "data",
            "--task=retrieve",
            "--examples=400",
            f"--test-images={TEST_IMAGES}",
        )
    )
    return workdir


@pytest.fixture(scope="module")
def manifest(workdir):
    return workdir / "data" / "manifest.jsonl"


@pytest.fixture(scope="module")
def trained(workdir, manifest):
    succeeded(
        run_mmkeras(
            "train",
            f"--manifest={manifest}",
            f"--output-dir={workdir / 'run'}",
            *TRAIN_FLAGS,
        )
    )
    return workdir / "run"


@pytest.fixture(scope="module")
def gallery(trained, workdir, manifest):
    succeeded(
        run_mmkeras(
            "index",
            f"--model={trained}",
            f"--manifest={manifest}",
            f"--output={workdir / 'gallery'}",
        )
    )
    return workdir / "gallery"


def _printed_metrics(stdout):
    return {
        name: float(value)
        for name, value in re.findall(r"^\s+(\w+): ([\d.]+)$", stdout, re.M)
    }


def test_a_tiny_training_beats_chance_by_a_wide_margin(trained, manifest):
    printed = run_mmkeras(
        "evaluate", f"--model={trained}", f"--manifest={manifest}"
    )
    metrics = _printed_metrics(succeeded(printed).stdout)
    assert metrics["gallery_items"] == TEST_IMAGES
    assert metrics["examples"] == 2 * TEST_IMAGES
    chance = chance_metrics(TEST_IMAGES, 2)
    # Chance: R@1 0.02, R@10 0.20, MRR ~0.09, median rank 25.5.
    for direction in ("text_to_image", "image_to_text"):
        assert metrics[f"{direction}_r1"] >= 5 * chance[f"{direction}_r1"]
        assert metrics[f"{direction}_mrr"] >= 3 * chance[f"{direction}_mrr"]
        assert (
            metrics[f"{direction}_median_rank"]
            <= chance[f"{direction}_median_rank"] / 3
        )


def test_index_holds_each_item_once_with_the_model_embeddings(
    trained, gallery, manifest
):
    task = load_task(trained)
    pairs = read_pairs(str(manifest)).records
    images = load_gallery(str(gallery / "image"))
    texts = load_gallery(str(gallery / "text"))
    assert sorted(images.ids) == sorted({r["image_id"] for r in pairs})
    assert len(texts) == len({r["text"] for r in pairs})
    first = next(r for r in pairs if r["image_id"] == images.ids[0])
    assert images.paths[0] == first["image"]
    with open(first["image"], "rb") as f:
        expected = task.embed("image", [f.read()]).numpy()[0]
    np.testing.assert_allclose(images.embeddings[0], expected, atol=1e-5)
    assert (gallery / "task.keras").is_file()


def test_search_prints_the_top_k_of_an_exact_search(trained, gallery):
    caption = "a large red circle in the top left and a small blue box"
    printed = succeeded(
        run_mmkeras("search", f"--index={gallery}", f"--text={caption}", "-k=3")
    ).stdout.splitlines()
    assert len(printed) == 3
    task = load_task(trained)
    images = load_gallery(str(gallery / "image"))
    scores = images.embeddings @ task.embed("text", [caption]).numpy()[0]
    best = np.argsort(-scores, kind="stable")[:3]
    for line, row in zip(printed, best, strict=True):
        rank, score, item_id, path = line.split()
        assert (item_id, path) == (images.ids[row], images.paths[row])
        assert float(score) == pytest.approx(scores[row], abs=1e-4)


def test_search_with_an_image_finds_captions(gallery, manifest):
    image = read_pairs(str(manifest)).records[0]["image"]
    printed = succeeded(
        run_mmkeras("search", f"--index={gallery}", f"--image={image}", "-k=2")
    ).stdout.splitlines()
    assert len(printed) == 2 and printed[0].startswith("  1  ")


def _run_in_process(capsys, *args):
    """`mmkeras ...` in this process (no start-up cost): (status, stderr)."""
    from mmkeras.cli import main

    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    return exited.value.code, capsys.readouterr().err


def test_bad_searches_are_one_line_errors(gallery, tmp_path, capsys):
    cases = [
        (("--text=   ",), "The --text query is empty."),
        (("--text=a red box", "-k=9999"), "is larger than the gallery"),
        (("--text=a", "--image=x.png"), "Give one query: --text or --image."),
    ]
    for args, fragment in cases:
        status, _ = _run_in_process(
            capsys, "search", f"--index={gallery}", *args
        )
        assert fragment in status and "\n" not in status
    other = dual_encoder(vocabulary=["[PAD]", "[UNK]", "a"], embedding_dim=16)
    other.save(tmp_path / "other.keras")
    status, _ = _run_in_process(
        capsys,
        "search",
        f"--index={gallery}",
        f"--model={tmp_path / 'other.keras'}",
        "--text=a red box",
    )
    assert "width 64 but this model embeds to width 16" in status
    assert "built by another model" in status


@pytest.fixture(scope="module")
def served(trained, gallery, workdir):
    succeeded(
        run_mmkeras(
            "export",
            f"--training-dir={trained}",
            f"--base-path={workdir / 'models'}",
            "--model-name=scenes",
            f"--gallery={gallery}",
            "--warmup-examples=2",
        )
    )
    with ModelServerProcess("scenes", workdir / "models" / "scenes") as server:
        yield server


def test_served_embed_and_search_equal_the_task(trained, gallery, served):
    task = load_task(trained)
    images = load_gallery(str(gallery / "image"))
    captions = ["a small green cross at the bottom left", "a big white disc"]
    with PredictionClient(served.address) as client:
        embedded = client.predict(
            "scenes", {"text": np.array(captions, object)}, "embed_text"
        )
        found = client.predict(
            "scenes",
            {"text": np.array(captions, object), "k": np.int32(4)},
            "search",
        )
        with pytest.raises(grpc.RpcError) as refused:
            client.predict(
                "scenes",
                {"text": np.array(["a red box"], object), "k": np.int32(10**6)},
                "search",
            )
    expected = task.embed("text", captions).numpy()
    np.testing.assert_allclose(embedded["embeddings"], expected, atol=1e-5)
    assert embedded["embeddings"].dtype == np.float32
    scores = expected @ np.asarray(images.embeddings).T
    best = np.argsort(-scores, axis=1, kind="stable")[:, :4]
    np.testing.assert_array_equal(
        found["ids"].astype(str), np.asarray(images.ids)[best]
    )
    np.testing.assert_allclose(
        found["scores"], np.take_along_axis(scores, best, 1), atol=1e-5
    )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "larger than the gallery" in refused.value.details()


def test_the_export_has_every_retrieval_signature(served, workdir):
    version = workdir / "models" / "scenes" / "1"
    loaded = tf.saved_model.load(str(version))
    assert sorted(loaded.signatures) == [
        "embed_image",
        "embed_text",
        "search",
        "serving_default",
    ]
    search = loaded.signatures["search"]
    inputs = search.structured_input_signature[1]
    assert {k: v.dtype for k, v in inputs.items()} == {
        "text": tf.string,
        "k": tf.int32,
    }
    assert {k: v.dtype for k, v in search.structured_outputs.items()} == {
        "ids": tf.string,
        "paths": tf.string,
        "scores": tf.float32,
    }
