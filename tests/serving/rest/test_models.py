"""Model status, metadata, :classify and :regress over real HTTP.

`scorer` (tests/serving/conftest.py) classifies tf.Examples with features
x (2 floats) and bias (1 float, default 0) into ["neg", "pos"] with
scores x + bias, and regresses 2 * x[0] + x[1] + bias.
"""

import pytest


def test_status_lists_the_versions_like_tf_serving(call):
    status, body = call("GET", "/v1/models/toy")

    assert status == 200
    assert body == {
        "model_version_status": [
            {
                "version": "2",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }


def test_status_of_one_version(call):
    status, body = call("GET", "/v1/models/toy/versions/2")

    assert status == 200
    assert [v["version"] for v in body["model_version_status"]] == ["2"]


@pytest.mark.parametrize(
    "path, message",
    [
        ("/v1/models/toy/versions/7", "Could not find version 7 of model toy"),
        ("/v1/models/missing", "Could not find any versions of model missing"),
    ],
)
def test_status_misses_are_404(call, path, message):
    status, body = call("GET", path)

    assert (status, body) == (404, {"error": message})


def test_metadata_has_model_spec_and_signature_defs(call):
    status, body = call("GET", "/v1/models/toy/metadata")

    assert status == 200
    assert body["model_spec"] == {
        "name": "toy",
        "version": "2",
        "signature_name": "",
    }
    # TF Serving nests the SignatureDefMap (itself a "signature_def" map)
    # under metadata.signature_def.
    signature = body["metadata"]["signature_def"]["signature_def"][
        "serving_default"
    ]
    assert signature["method_name"] == "tensorflow/serving/predict"
    x = signature["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in x["tensor_shape"]["dim"]] == ["-1", "2"]


def test_metadata_of_a_missing_version_is_404(call):
    status, body = call("GET", "/v1/models/toy/versions/1/metadata")

    assert status == 404
    assert "Specific(toy, 1)" in body["error"]


@pytest.mark.parametrize(
    "path, message",
    [
        ("/v1/models", "Missing model name in request."),
        ("/v1/nothing/here", "Malformed request: GET /v1/nothing/here"),
    ],
)
def test_malformed_api_paths_are_400(call, path, message):
    status, body = call("GET", path)

    assert (status, body) == (400, {"error": message})


def test_paths_outside_the_api_are_404(call):
    status, body = call("GET", "/index.html")

    assert (status, body) == (404, {"error": "Not found: /index.html"})


def test_classify(call):
    examples = [{"x": [1.0, 2.0]}, {"x": [0.5, -1.0], "bias": 0.5}]

    status, body = call(
        "POST", "/v1/models/scorer:classify", {"examples": examples}
    )

    assert status == 200
    assert body == {
        "results": [
            [["neg", 1.0], ["pos", 2.0]],
            [["neg", 1.0], ["pos", -0.5]],
        ]
    }


def test_regress_with_context(call):
    body = {
        "signature_name": "regress",
        "context": {"bias": 1.0},
        "examples": [{"x": [1.0, 2.0]}, {"x": [0.1, 0.0]}],
    }

    status, answer = call("POST", "/v1/models/scorer:regress", body)

    # 2 * 1 + 2 + 1 = 5; 2 * 0.1 + 0 + 1 = 1.2 (float32, shortest decimal).
    assert (status, answer) == (200, {"results": [5.0, 1.2]})


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "When method is classify, key 'examples' is expected"),
        ({"examples": []}, "'examples' value is an empty array"),
        ({"examples": {}}, "Expecting 'examples' value to be an list/array"),
        ({"examples": [3]}, "Example must be JSON object but got JSON Number"),
        (
            {"examples": [{"x": [1.0, "a"]}]},
            "Unexpected element type in feature: x expecting type: float",
        ),
        (
            {"examples": [{"x": None}]},
            "Feature: x has element with unexpected JSON type: Null",
        ),
        (
            {"examples": [{"x": 2**64}]},
            "Feature: x has uint64 element. Only int64 is supported.",
        ),
        # A whole number is an int64 feature, which the float parser rejects.
        ({"examples": [{"x": [1, 2]}]}, "Data types don't match"),
        (
            {"signature_name": "regress", "examples": [{"x": [1.0, 2.0]}]},
            "Expected classification signature outputs to contain",
        ),
    ],
)
def test_classify_errors_are_400(call, body, message):
    status, answer = call("POST", "/v1/models/scorer:classify", body)

    assert status == 400
    assert message in answer["error"]
