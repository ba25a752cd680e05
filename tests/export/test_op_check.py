import json
import os

import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from mmkeras.export import op_check
from mmkeras.export import tflite


class _Module(tf.Module):
    """Two signatures: one with a while loop, one with a TF Text op."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def count(self, x):
        i = tf.constant(0)
        i = tf.while_loop(lambda i: i < 3, lambda i: i + 1, [i])
        return {"y": x * tf.cast(i, tf.float32)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def binarize(self, text):
        return {"bits": tf_text.utf8_binarize(text)}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("op_check") / "1")
    module = _Module()
    tf.saved_model.save(
        module,
        path,
        signatures={"serving_default": module.count, "text": module.binarize},
    )
    return path


def test_every_shipped_release_has_tensorflow_and_tf_text_ops():
    assert {"2.19", "2.20", "2.21"} <= set(op_check.supported_releases())
    for release in op_check.supported_releases():
        ops = op_check.release_ops(release)
        assert ops["tf_serving"] == release
        assert {"AddV2", "StatefulPartitionedCall"} <= set(
            ops["tensorflow_ops"]
        )
        # The tokenizer's ops are TF Text's, in every release TF Serving
        # links.
        assert {"FastBertNormalize", "FastWordpieceTokenizeWithOffsets"} <= (
            set(ops["tensorflow_text_ops"])
        )


def test_lists_the_ops_of_each_signature_through_functions(saved_model):
    ops = op_check.saved_model_ops(saved_model)
    assert {"StatelessWhile", "Mul", "Less"} <= set(ops["serving_default"])
    assert "TFText>Utf8Binarize" in ops["text"]
    assert "TFText>Utf8Binarize" not in ops["serving_default"]
    # Function calls are followed, not listed as ops of their own.
    assert not any(op.startswith("__inference") for op in ops["text"])
    # Loading needs ops too (restoring variables): listed apart.
    assert "RestoreV2" in ops[None]


def test_names_an_op_the_target_release_lacks(saved_model):
    # TF Text 2.12.1, which TF Serving 2.19 links, has no Utf8Binarize.
    findings = op_check.check_export(saved_model, "2.19")
    assert findings[0].missing == {"text": ["TFText>Utf8Binarize"]}
    report = op_check.format_findings(findings, "2.19")
    assert report.splitlines()[-2:] == [
        "FAILED: TF Serving 2.19 lacks ops:",
        f"  {saved_model} text: TFText>Utf8Binarize",
    ]
    assert op_check.check_export(saved_model, "2.21")[0].missing == {}


def test_a_planted_op_missing_from_an_op_list_is_named(
    saved_model, tmp_path, monkeypatch
):
    ops = op_check.release_ops("2.21")
    ops["tensorflow_ops"].remove("Less")
    with open(tmp_path / "tf_serving_9.9.json", "w") as f:
        json.dump({**ops, "tf_serving": "9.9"}, f)
    monkeypatch.setattr(op_check, "OPS_DIR", str(tmp_path))
    (finding,) = op_check.check_export(saved_model, "9.9")
    assert finding.missing == {"serving_default": ["Less"]}


def test_an_unknown_release_names_the_known_ones():
    with pytest.raises(ValueError, match=r"2\.19, 2\.20, 2\.21"):
        op_check.release_ops("1.15")


def _tflite_with(function, supported_ops, allow_custom_ops=False):
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()]
    )
    converter.target_spec.supported_ops = supported_ops
    converter.allow_custom_ops = allow_custom_ops
    return converter.convert()


@tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
def _string_lengths(text):
    return tf.strings.length(text)


def test_a_tflite_file_with_flex_ops_fails(tmp_path):
    model = _tflite_with(
        _string_lengths,
        [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS],
    )
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    (finding,) = op_check.check_export(str(path))
    assert finding.missing == {"serving_default": ["custom:FlexStringLength"]}
    with pytest.raises(ValueError, match="FlexStringLength"):
        tflite.check_device_ops(model)


def test_a_custom_op_no_interpreter_has_is_refused():
    model = _tflite_with(
        _string_lengths,
        [tf.lite.OpsSet.TFLITE_BUILTINS],
        allow_custom_ops=True,
    )
    with pytest.raises(ValueError, match="custom:StringLength"):
        tflite.check_device_ops(model)


def test_tf_text_ops_in_tflite_fail_only_for_tf_servings_tflite_runtime(
    tmp_path,
):
    tokenizer = tf_text.FastBertTokenizer(
        vocab=["[PAD]", "[UNK]", "a"], lower_case_nfd_strip_accents=True
    )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(text):
        return tokenizer.tokenize(text).to_tensor()

    model = _tflite_with(
        tokenize, [tf.lite.OpsSet.TFLITE_BUILTINS], allow_custom_ops=True
    )
    tflite.check_device_ops(model)  # every op runs on a device
    version = tmp_path / "1"
    os.makedirs(version)
    (version / "model.tflite").write_bytes(model)
    tf.saved_model.save(_Module(), str(version))

    findings = op_check.check_export(str(tmp_path))
    assert [f.kind for f in findings] == ["saved_model", "tflite"]
    assert not any(f.missing for f in findings)
    assert "--prefer_tflite_model" in findings[1].notes[0]

    served = op_check.check_export(str(tmp_path), prefer_tflite=True)
    assert served[1].missing == {
        "serving_default": [
            "custom:FastBertNormalize",
            "custom:FastWordpieceTokenizeWithOffsets",
            "custom:RaggedTensorToTensor",
        ]
    }
