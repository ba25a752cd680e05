import numpy as np
import pytest
import tensorflow as tf

from mmkeras.layers import ModalityDropout
from tests.test_case import run_layer_checks


def _embeddings(batch, names=("audio", "image", "text", "video")):
    return {name: np.zeros((batch, 2), "float32") for name in names}


def _matrix(mask):
    """The returned dict as a bool (batch, modalities) array, sorted."""
    return np.stack([np.asarray(mask[k]) for k in sorted(mask)], axis=1)


def test_inference_returns_the_mask_unchanged():
    dropout = ModalityDropout(rate=0.9, seed=0)
    given = {"image": np.array([True, False, True])}
    for training in (False, None):
        mask = dropout(
            _embeddings(3, ("image", "text")),
            modality_mask=given,
            training=training,
        )
        # Modalities the mask leaves out count as present.
        np.testing.assert_array_equal(mask["image"], [True, False, True])
        np.testing.assert_array_equal(mask["text"], [True, True, True])


def test_training_drops_at_about_the_rate_and_never_everything():
    dropout = ModalityDropout(rate=0.3, seed=1)
    kept = _matrix(dropout(_embeddings(20000), training=True))
    # With n = 4 present modalities, rescuing examples that lost all of
    # them makes the effective rate 0.3 - 0.3**4 / 4 = 0.297975.
    assert abs((1.0 - kept.mean()) - 0.297975) < 0.01
    assert kept.any(axis=1).all()
    # Each modality is dropped independently of the others.
    per_modality = 1.0 - kept.mean(axis=0)
    np.testing.assert_allclose(per_modality, 0.297975, atol=0.02)


def test_training_never_drops_an_examples_only_present_modality():
    dropout = ModalityDropout(rate=0.5, seed=2)
    given = {
        "image": np.array([True, False, False, True] * 500),
        "text": np.array([False, True, False, True] * 500),
    }
    kept = _matrix(
        dropout(
            _embeddings(2000, ("image", "text")),
            modality_mask=given,
            training=True,
        )
    )
    present = _matrix(given)
    # Never turns a missing modality into a present one.
    assert not (kept & ~present).any()
    # One present modality: always kept. None present: stays none.
    np.testing.assert_array_equal(kept[0::4], present[0::4])
    np.testing.assert_array_equal(kept[1::4], present[1::4])
    np.testing.assert_array_equal(kept[2::4], present[2::4])
    both = kept[3::4]
    assert both.any(axis=1).all()
    # Both present at rate 0.5: P(keep both) = 1/4, P(keep one) = 3/4.
    assert abs(both.all(axis=1).mean() - 0.25) < 0.06


def test_the_rescued_modality_is_chosen_uniformly():
    dropout = ModalityDropout(rate=1.0, seed=3)
    kept = _matrix(dropout(_embeddings(3000, ("a", "b", "c")), training=True))
    np.testing.assert_array_equal(kept.sum(axis=1), 1)
    np.testing.assert_allclose(kept.mean(axis=0), 1 / 3, atol=0.04)


def test_deterministic_with_a_seed():
    def draw(seed):
        dropout = ModalityDropout(rate=0.5, seed=seed)
        return _matrix(dropout(_embeddings(64), training=True))

    np.testing.assert_array_equal(draw(7), draw(7))
    assert not np.array_equal(draw(7), draw(8))
    # Successive calls of one layer draw fresh masks.
    dropout = ModalityDropout(rate=0.5, seed=7)
    first = _matrix(dropout(_embeddings(64), training=True))
    second = _matrix(dropout(_embeddings(64), training=True))
    assert not np.array_equal(first, second)


def test_works_in_an_xla_compiled_function():
    dropout = ModalityDropout(rate=0.5, seed=4)

    @tf.function(jit_compile=True)
    def step(image, text):
        mask = dropout({"image": image, "text": text}, training=True)
        return mask["image"], mask["text"]

    image, text = step(tf.zeros((256, 2)), tf.zeros((256, 3)))
    image, text = np.asarray(image), np.asarray(text)
    assert (image | text).all()
    assert 0.2 < 1.0 - image.mean() < 0.5


def test_layer_checks(tmp_path):
    run_layer_checks(
        lambda dtype: ModalityDropout(rate=0.5, seed=0, dtype=dtype),
        _embeddings(4, ("image", "text")),
        tmp_path,
        call_kwargs={
            "modality_mask": {"text": np.array([True, False, True, True])}
        },
    )


def test_rejects_a_bad_rate():
    with pytest.raises(ValueError, match=r"in \[0, 1\], received 1.5"):
        ModalityDropout(rate=1.5)
    with pytest.raises(ValueError, match="non-empty dict"):
        ModalityDropout(rate=0.5)(np.zeros((2, 3)))


def test_output_shape_is_one_bool_per_example_and_modality():
    dropout = ModalityDropout(rate=0.5)
    shapes = {"text": (None, 3), "audio": (None, 2)}
    expected = {"audio": (None,), "text": (None,)}
    assert dropout.compute_output_shape(shapes) == expected
