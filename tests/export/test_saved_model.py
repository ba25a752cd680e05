import os
import re
import subprocess
import sys

import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from mmkeras.export import export_task
from mmkeras.export import saved_model
from mmkeras.export import warmup
from mmkeras.models import multimodal_classifier
from mmkeras.preprocessing import DecodeLimits
from mmkeras.preprocessing import learn_vocabulary
from mmkeras.preprocessing import limits_of
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
    assert sorted(os.listdir(os.path.join(base_path, "demo"))) == [
        "1",
        "batching_parameters.txt",
        "models.config",
    ]
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


# What each signature of the classifier takes and returns, as a server
# reads its SignatureDef: {name: (dtype, shape)}.
SIGNATURES = {
    "serving_default": (
        {"image": ("DT_STRING", [-1]), "text": ("DT_STRING", [-1])},
        {
            "probabilities": ("DT_FLOAT", [-1, 2]),
            "class_ids": ("DT_INT64", [-1]),
            "class_names": ("DT_STRING", [-1]),
            "modality_weights": ("DT_FLOAT", [-1, 2]),
        },
    ),
    "classify": (
        {"inputs": ("DT_STRING", [-1])},
        {"classes": ("DT_STRING", [-1, 2]), "scores": ("DT_FLOAT", [-1, 2])},
    ),
}


def _specs(tensor_infos):
    return {
        key: (
            types_pb2.DataType.Name(info.dtype),
            [dim.size for dim in info.tensor_shape.dim],
        )
        for key, info in tensor_infos.items()
    }


def test_every_signature_round_trips_with_its_names_and_dtypes(exported):
    definitions = warmup.signature_defs(exported[1])
    assert sorted(definitions) == sorted(SIGNATURES)
    loaded = tf.saved_model.load(exported[1])
    for name, (inputs, outputs) in SIGNATURES.items():
        assert _specs(definitions[name].inputs) == inputs
        assert _specs(definitions[name].outputs) == outputs
        function = loaded.signatures[name]
        _, keyword_specs = function.structured_input_signature
        assert {k: s.dtype.name for k, s in keyword_specs.items()} == {
            k: "string" for k in inputs
        }
        assert sorted(function.structured_outputs) == sorted(outputs)


def test_outputs_are_float32_under_mixed_precision(tmp_path):
    vocabulary = learn_vocabulary(raw_examples(["text"])["text"])
    task = multimodal_classifier(
        ["image", "text"],
        ["ball", "box"],
        vocabulary=vocabulary,
        hidden_dim=8,
        image_size=8,
        sequence_length=6,
        dtype="mixed_float16",
    )
    path = export_task(task, str(tmp_path), "m")
    raw = as_tensors(raw_examples(["image", "text"], count=2))
    served = tf.saved_model.load(path).signatures["serving_default"](**raw)
    assert served["probabilities"].dtype == tf.float32
    assert served["modality_weights"].dtype == tf.float32


def test_a_half_precision_output_is_refused():
    definition = meta_graph_pb2.SignatureDef()
    definition.outputs["logits"].dtype = tf.float16.as_datatype_enum
    with pytest.raises(ValueError, match="returns 'logits' as float16"):
        saved_model.check_float_outputs({"serving_default": definition})


def test_limits_set_at_export_are_in_the_signature_only(task, tmp_path):
    path = export_task(
        task, str(tmp_path), "m", limits=DecodeLimits(max_pixels=100)
    )
    # The export's limits are baked into its signatures...
    raw = as_tensors(raw_examples(["image", "text"], count=1))  # 12x12
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"image 0 is 12x12 = 144 pixels, over the limit of 100 "
        r"\(max_pixels\)",
    ):
        tf.saved_model.load(path).signatures["serving_default"](**raw)
    # ... and the task keeps its own.
    assert limits_of(task.preprocessor)["max_pixels"] == 2048 * 2048
    assert task.predict_raw(raw)["probabilities"].shape == (1, 2)


def test_a_task_without_a_train_config_exports_none(exported):
    assert not os.path.exists(saved_model.train_config_file(exported[1]))


def test_saved_model_cli_shows_the_same_signatures(exported):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run(
        [cli, "show", "--all", "--dir", exported[1]],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    assert _parse_saved_model_cli(shown) == {
        name: (
            {k: (d, tuple(s)) for k, (d, s) in inputs.items()},
            {k: (d, tuple(s)) for k, (d, s) in outputs.items()},
        )
        for name, (inputs, outputs) in SIGNATURES.items()
    }


def _parse_saved_model_cli(text):
    """{signature: (inputs, outputs)} from `saved_model_cli show --all`,
    each {name: (dtype, shape)}."""
    signatures = {}
    tensor = re.compile(
        r"(inputs|outputs)\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+"
        r"shape: \(([-\d, ]*)\)"
    )
    for block in re.split(r"\nsignature_def\['", text)[1:]:
        name = block.split("'", 1)[0]
        if name.startswith("__"):
            continue
        parts = {"inputs": {}, "outputs": {}}
        for kind, key, dtype, shape in tensor.findall(block):
            dims = tuple(int(d) for d in shape.replace(" ", "").split(",") if d)
            parts[kind][key] = (dtype, dims)
        signatures[name] = (parts["inputs"], parts["outputs"])
    return signatures
