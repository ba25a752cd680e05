import pytest

from serving.server import loader


def test_versions_are_the_all_digit_directories(model_base_path):
    # .tmp-3, 4abc and notes.txt are in the base path too.
    assert loader.find_versions(str(model_base_path)) == [1, 2]


def test_latest_version_is_loaded_with_its_signatures(latest_servable):
    assert latest_servable.version == 2
    assert sorted(latest_servable.signatures) == [
        "decode_image",
        "serving_default",
    ]


def test_signature_defs_come_from_saved_model_pb(latest_servable):
    signature_def = latest_servable.signature_defs["serving_default"]

    assert signature_def.method_name == "tensorflow/serving/predict"
    assert sorted(signature_def.outputs) == ["length", "y"]
    assert "__saved_model_init_op" in latest_servable.signature_defs


def test_missing_base_path_names_the_path(tmp_path):
    missing = str(tmp_path / "nowhere")

    with pytest.raises(FileNotFoundError, match="nowhere.* does not exist"):
        loader.load_latest("toy", missing)


def test_base_path_without_versions_names_the_path(tmp_path):
    (tmp_path / ".tmp-1").mkdir()

    with pytest.raises(ValueError, match="No versions of model 'toy' found"):
        loader.load_latest("toy", str(tmp_path))
