import os

import pytest
import tensorflow as tf

from mmkeras.export import export_task
from mmkeras.export import saved_model
from mmkeras.models import multimodal_classifier
from mmkeras.preprocessing import learn_vocabulary
from tests.test_case import as_tensors
from tests.test_case import raw_examples


@pytest.fixture(scope="module")
def task():
    vocabulary = learn_vocabulary(raw_examples(["text"])["text"])
    return multimodal_classifier(
        ["image", "text"],
        ["ball", "box"],
        vocabulary=vocabulary,
        hidden_dim=8,
        image_size=8,
        sequence_length=6,
    )


@pytest.fixture(scope="module")
def exported(task, tmp_path_factory):
    base_path = tmp_path_factory.mktemp("models")
    return base_path, export_task(task, str(base_path), "demo")


def test_layout_is_base_name_version(exported):
    base_path, path = exported
    assert path == os.path.join(base_path, "demo", "1")
    assert os.listdir(os.path.join(base_path, "demo")) == ["1"]
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.isdir(os.path.join(path, "variables"))


def test_every_task_signature_is_exported_and_answers(exported, task):
    loaded = tf.saved_model.load(exported[1])
    assert sorted(loaded.signatures) == ["classify", "serving_default"]
    raw = as_tensors(raw_examples(["image", "text"], count=3))
    served = loaded.signatures["serving_default"](**raw)
    expected = task.predict_raw(raw)
    for key in ("probabilities", "modality_weights"):
        assert served[key].dtype == tf.float32
        tf.debugging.assert_near(served[key], expected[key], atol=1e-5)


def test_next_export_is_a_new_version_and_versions_are_immutable(
    task, tmp_path
):
    first = export_task(task, str(tmp_path), "m")
    os.makedirs(tmp_path / "m" / ".tmp-stale")  # a crashed export's leftovers
    second = export_task(task, str(tmp_path), "m")
    assert (os.path.basename(first), os.path.basename(second)) == ("1", "2")
    with pytest.raises(FileExistsError, match="Version 2 already exists"):
        export_task(task, str(tmp_path), "m", version=2)


class _Interrupted(Exception):
    pass


def test_an_interrupted_export_leaves_no_numeric_directory(
    task, tmp_path, monkeypatch
):
    write_archive = saved_model._write_archive

    def fail_after_writing(task, directory):
        write_archive(task, directory)
        raise _Interrupted("killed before the version was complete")

    monkeypatch.setattr(saved_model, "_write_archive", fail_after_writing)
    with pytest.raises(_Interrupted):
        export_task(task, str(tmp_path), "m")
    assert os.listdir(tmp_path / "m") == []


def test_a_task_without_serving_default_is_refused(task, tmp_path, monkeypatch):
    signatures = task.serving_signatures()
    monkeypatch.setattr(
        type(task),
        "serving_signatures",
        lambda self: {"classify": signatures["classify"]},
    )
    with pytest.raises(ValueError, match="must include 'serving_default'"):
        export_task(task, str(tmp_path), "m")
