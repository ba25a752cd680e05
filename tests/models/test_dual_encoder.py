import keras
import numpy as np
import pytest
import tensorflow as tf

from mmkeras.models import DualEncoder
from mmkeras.models import Gallery
from mmkeras.models import dual_encoder
from mmkeras.preprocessing import learn_vocabulary
from tests.test_case import as_tensors
from tests.test_case import raw_examples
from tests.test_case import run_task_test


def _dual_encoder(modalities=("image", "text"), **kwargs):
    vocabulary = learn_vocabulary(raw_examples(["text"], 8)["text"])
    return dual_encoder(
        modalities,
        vocabulary=vocabulary,
        embedding_dim=6,
        hidden_dim=8,
        image_size=8,
        sequence_length=6,
        clip_seconds=0.3,
        num_frames=2,
        **kwargs,
    )


@pytest.mark.parametrize("loss", ["clip", "sigmoid"])
def test_task_checks_image_text(loss, tmp_path):
    raw = raw_examples(["image", "text"])
    run_task_test(_dual_encoder(loss=loss), raw, ["a", "b", "c", "a"], tmp_path)


def test_task_checks_audio_text(tmp_path):
    raw = raw_examples(["audio", "text"])
    export = run_task_test(
        _dual_encoder(("audio", "text")), raw, ["a", "b", "c", "d"], tmp_path
    )
    signatures = tf.saved_model.load(export).signatures
    assert sorted(signatures) == [
        "embed_audio",
        "embed_text",
        "serving_default",
    ]


def test_embeddings_are_unit_float32_and_scores_are_pair_cosines():
    task = _dual_encoder()
    outputs = task.predict_raw(as_tensors(raw_examples(["image", "text"])))
    for key in ("image_embeddings", "text_embeddings"):
        assert outputs[key].dtype == tf.float32
        np.testing.assert_allclose(
            np.linalg.norm(outputs[key], axis=1), 1.0, atol=1e-5
        )
    np.testing.assert_allclose(
        outputs["scores"],
        np.sum(outputs["image_embeddings"] * outputs["text_embeddings"], 1),
        atol=1e-6,
    )


def test_mixed_float16_stays_finite_with_float32_outputs_and_loss():
    task = _dual_encoder(dtype="mixed_float16")
    raw = as_tensors(raw_examples(["image", "text"]))
    features, keys = task.preprocessor(raw)
    outputs = task(features)
    assert {v.dtype for v in outputs.values()} == {tf.float32}
    loss = task.compute_loss(features, keys, outputs)
    assert loss.dtype == tf.float32 and np.isfinite(loss)
    task.compile()
    assert isinstance(task.optimizer, keras.optimizers.LossScaleOptimizer)
    history = task.fit(features, keys, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_duplicate_items_in_a_batch_are_not_negatives():
    task = _dual_encoder()
    raw = raw_examples(["image", "text"])
    raw["image_id"] = ["x", "y", "x", "z"]
    features, keys = task.preprocessor(as_tensors(raw))
    outputs = task(features)
    with_keys = float(task.compute_loss(features, keys, outputs))
    without = float(task.compute_loss(features, None, outputs))
    assert with_keys != pytest.approx(without)
    # Rows 0 and 2 are the same image: each is the other's positive.
    keys_array = keys["image_keys"].numpy()
    assert keys_array[0] == keys_array[2] != keys_array[1]


def test_logit_scale_is_saved_with_the_task(tmp_path):
    task = _dual_encoder(loss="sigmoid")
    task.logit_scale.log_scale.assign(1.5)
    task.logit_scale.bias.assign(-3.0)
    path = str(tmp_path / "task.keras")
    task.save(path)
    reloaded = keras.saving.load_model(path)
    scale, bias = reloaded.logit_scale.scale_and_bias()
    assert float(scale) == pytest.approx(np.exp(1.5), rel=1e-6)
    assert float(bias) == -3.0


def test_search_signature_returns_the_gallery_items_embed_finds(tmp_path):
    from mmkeras.export import export_task

    task = _dual_encoder()
    raw = raw_examples(["image", "text"], count=5)
    images = task.embed("image", tf.constant(raw["image"])).numpy()
    task.attach_gallery(
        Gallery(
            "image",
            images,
            ids=np.array([f"id{i}" for i in range(5)]),
            paths=np.array([f"images/{i}.png" for i in range(5)]),
        )
    )
    export = export_task(task, str(tmp_path), "retrieval")
    search = tf.saved_model.load(export).signatures["search"]
    answer = search(text=tf.constant(raw["text"][:2]), k=tf.constant(3))
    queries = task.embed("text", tf.constant(raw["text"][:2])).numpy()
    expected = np.argsort(-queries @ images.T, axis=1)[:, :3]
    np.testing.assert_array_equal(
        answer["ids"].numpy().astype(str),
        np.array([f"id{i}" for i in range(5)])[expected],
    )
    np.testing.assert_allclose(
        answer["scores"],
        np.take_along_axis(queries @ images.T, expected, 1),
        atol=1e-5,
    )
    assert answer["paths"].numpy()[0, 0].decode().startswith("images/")
    with pytest.raises(tf.errors.InvalidArgumentError, match="larger than"):
        search(text=tf.constant(["red box"]), k=tf.constant(6))
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty"):
        search(text=tf.constant([""]), k=tf.constant(1))


def test_a_gallery_of_another_width_is_refused():
    task = _dual_encoder()
    gallery = Gallery(
        "image",
        np.zeros((2, 5), "float32"),
        np.array(["a", "b"]),
        np.array(["a", "b"]),
    )
    with pytest.raises(ValueError, match="width 5 but this model embeds"):
        task.attach_gallery(gallery)


def test_needs_exactly_two_towers():
    with pytest.raises(ValueError, match="exactly two towers"):
        DualEncoder({"image": _dual_encoder().encoders["image"]})
