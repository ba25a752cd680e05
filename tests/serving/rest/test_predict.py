""":predict over real HTTP: row and columnar formats, JSON mapping, errors.

Models (see the conftests): `toy` v2 gives length(text) and y = 2 * x;
`rest_toy` gives y = 0.5 * x + 2 by default and echoes typed inputs.
"""

import base64
import math

import pytest

TOY = "/v1/models/toy:predict"
REST_TOY = "/v1/models/rest_toy:predict"


def test_row_format_single_input_gives_plain_predictions(call):
    status, body = call("POST", REST_TOY, {"instances": [1.0, 2.0, 5.0]})

    assert (status, body) == (200, {"predictions": [2.5, 3.0, 4.5]})


def test_columnar_format_single_input_gives_plain_outputs(call):
    # JSON ints feed the float32 input: the signature decides the dtype.
    status, body = call("POST", REST_TOY, {"inputs": [1, 2]})

    assert (status, body) == (200, {"outputs": [2.5, 3.0]})


def test_row_format_named_inputs_gives_one_object_per_example(call):
    instances = [{"text": "a", "x": [1, 2]}, {"text": "héllo", "x": [3, -4]}]

    status, body = call("POST", TOY, {"instances": instances})

    # tf.strings.length counts UTF-8 bytes: "héllo" is 6.
    assert status == 200
    assert body == {
        "predictions": [
            {"length": 1, "y": [2.0, 4.0]},
            {"length": 6, "y": [6.0, -8.0]},
        ]
    }


def test_columnar_format_named_inputs_gives_named_outputs(call):
    inputs = {"text": ["a", "héllo"], "x": [[1, 2], [3, -4]]}

    status, body = call("POST", TOY, {"inputs": inputs})

    assert status == 200
    assert body == {"outputs": {"length": [1, 6], "y": [[2, 4], [6, -8]]}}


def test_shape_other_than_the_signature_records_runs_in_the_graph(call):
    # x is recorded as (None, 2); the graph (2 * x) takes three columns.
    inputs = {"text": ["a"], "x": [[1, 2, 3]]}

    status, body = call("POST", TOY, {"inputs": inputs})

    assert (status, body) == (
        200,
        {"outputs": {"length": [1], "y": [[2, 4, 6]]}},
    )


def test_signature_name_selects_the_signature(call):
    body = {"signature_name": "scalar_out", "inputs": [1, 2, 3]}

    status, answer = call("POST", REST_TOY, body)

    assert (status, answer) == (
        200,
        {"outputs": {"total": 6.0, "y": [1, 2, 3]}},
    )


def test_float32_outputs_use_their_shortest_decimal(http, rest_url):
    response = http.post(rest_url + REST_TOY, data='{"instances": [0.1]}')

    # 0.5 * 0.1f + 2 is the float32 nearest 2.05, written as TF Serving does.
    assert response.text == '{"predictions":[2.05]}'


def test_nan_and_infinity_in_and_out(http, rest_url):
    body = '{"instances": [NaN, Infinity, -Infinity]}'

    response = http.post(rest_url + REST_TOY, data=body)

    assert response.status_code == 200
    assert response.text == '{"predictions":[NaN,Infinity,-Infinity]}'
    assert math.isnan(response.json()["predictions"][0])


def test_dtypes_come_from_the_signature(call):
    instance = {
        "doubles": 0.1,
        "counts": 2**40,
        "small": -3,
        "flags": True,
        "data": "héllo",
    }

    status, body = call(
        "POST", REST_TOY, {"signature_name": "typed", "instances": [instance]}
    )

    assert status == 200
    assert body == {
        "predictions": [
            {
                "doubles": 0.2,
                "counts": 2**40 + 1,
                "small": -3,
                "flags": False,
                # "_bytes" outputs are base64, other strings UTF-8 text.
                "echo_bytes": {
                    "b64": base64.b64encode(b"h\xc3\xa9llo").decode()
                },
                "text": "héllo",
            }
        ]
    }


def test_b64_binary_in_and_out(call):
    data = b"\x00\xff\x10"
    encoded = base64.b64encode(data).decode()
    inputs = {
        "doubles": [1],
        "counts": [1],
        "small": [1],
        "flags": [False],
        "data": [{"b64": encoded}],
    }

    status, body = call(
        "POST", REST_TOY, {"signature_name": "typed", "inputs": inputs}
    )

    assert status == 200
    assert body["outputs"]["echo_bytes"] == [{"b64": encoded}]
    # Not UTF-8, so even a plain string output falls back to base64.
    assert body["outputs"]["text"] == [{"b64": encoded}]


def test_b64_feeds_a_string_input(call):
    text = {"b64": base64.b64encode(b"abc").decode()}

    status, body = call(
        "POST", TOY, {"inputs": {"text": [text], "x": [[1, 2]]}}
    )

    assert (status, body["outputs"]["length"]) == (200, [3])


@pytest.mark.parametrize(
    "path, expected_y",
    [
        ("/v1/models/toy/versions/2:predict", [[2.0, 4.0]]),
        ("/v1/models/toy/labels/stable:predict", [[2.0, 4.0]]),
    ],
)
def test_version_and_label_in_the_url(call, path, expected_y):
    status, body = call(
        "POST", path, {"inputs": {"text": ["a"], "x": [[1, 2]]}}
    )

    assert (status, body["outputs"]["y"]) == (200, expected_y)


INVALID_BODIES = [
    ({"instances": ["a"]}, 'JSON Value: "a" Type: String is not of expected'),
    ({"instances": [True]}, "JSON Value: true Type: True is not of expected"),
    ({"instances": [None]}, "JSON Value: null Type: Null is not of expected"),
    (
        {"instances": [16777217]},
        "Cannot convert JSON value: 16777217 to float32 without loss",
    ),
    ({"inputs": [1e39]}, "Cannot convert JSON value: 1e+39 to float32"),
    ({"instances": [[1, 2], [3]]}, "is not a dense tensor"),
    ({"instances": [1], "inputs": [1]}, "expecting only one of 'inputs'"),
    ({"signature_name": "scalar_out"}, "Missing 'inputs' or 'instances' key"),
    ({"instances": []}, "No values in 'instances' array"),
    ({"instances": 1}, "Excepting 'instances' to be an list/array"),
    ({"inputs": [1], "signature_name": 7}, "'signature_name' key must be a"),
    (
        {"signature_name": "nope", "inputs": [1]},
        'Serving signature name: "nope" not found in signature def',
    ),
    (
        {"signature_name": "scalar_out", "instances": [1, 2]},
        "Tensor name: total has no shape information",
    ),
]


@pytest.mark.parametrize("body, message", INVALID_BODIES)
def test_invalid_bodies_are_400_with_the_problem_named(call, body, message):
    status, answer = call("POST", REST_TOY, body)

    assert status == 400
    assert message in answer["error"]


TYPED_ERRORS = [
    (
        "counts",
        1.5,
        "JSON Value: 1.5 Type: Number is not of expected type: int64",
    ),
    (
        "small",
        300,
        "JSON Value: 300 Type: Number is not of expected type: int8",
    ),
    ("flags", 1, "JSON Value: 1 Type: Number is not of expected type: bool"),
    ("data", 5, "JSON Value: 5 Type: Number is not of expected type: string"),
    ("data", {"b64": "!!"}, "Unable to base64 decode"),
    ("data", {"b64": "YQ==", "x": 1}, "Type: Object is not of expected"),
]


@pytest.mark.parametrize("name, value, message", TYPED_ERRORS)
def test_values_must_fit_the_input_dtype(call, name, value, message):
    inputs = {"doubles": 1, "counts": 1, "small": 1, "flags": True, "data": "a"}
    inputs[name] = value

    status, body = call(
        "POST", REST_TOY, {"signature_name": "typed", "instances": [inputs]}
    )

    assert status == 400
    assert message in body["error"]


NAMED_INPUT_ERRORS = [
    (
        {"instances": [[1, 2]]},
        "instances is a plain list, but expecting list of objects",
    ),
    (
        {"instances": [{"text": "a"}]},
        "keys must be equal to: text,x",
    ),
    (
        {"instances": [{"text": "a", "x": [1, 2]}, [1]]},
        "Expecting object but got list at item 1",
    ),
    ({"inputs": [1]}, "inputs is a plain value/list, but expecting an object"),
    ({"inputs": {"text": ["a"]}}, "Missing named input: x in 'inputs' object."),
]


@pytest.mark.parametrize("body, message", NAMED_INPUT_ERRORS)
def test_named_inputs_must_match_the_signature(call, body, message):
    status, answer = call("POST", TOY, body)

    assert status == 400
    assert message in answer["error"]


@pytest.mark.parametrize(
    "body, message",
    [
        ("{bad", "JSON Parse error: Expecting property name"),
        ("", "JSON Parse error: The document is empty"),
        (b"\xff\xfe{", "JSON Parse error"),
        ("[1]", "JSON Value: [1] Is not object"),
        ("[" * 100000, "JSON Parse error"),
    ],
)
def test_malformed_json_is_400_naming_the_problem(call, body, message):
    status, answer = call("POST", REST_TOY, body)

    assert status == 400
    assert message in answer["error"]


def test_unknown_model_is_404(call):
    status, body = call("POST", "/v1/models/nope:predict", {"instances": [1]})

    assert (status, body) == (
        404,
        {"error": "Servable not found for request: Latest(nope)"},
    )


def test_unknown_version_is_404(call):
    status, body = call("POST", "/v1/models/toy/versions/1:predict", {})

    assert status == 404
    assert body["error"] == "Servable not found for request: Specific(toy, 1)"


def test_unknown_label_is_400(call):
    status, body = call("POST", "/v1/models/toy/labels/nope:predict", {})

    assert (status, body) == (
        400,
        {"error": "Unrecognized servable version label: nope"},
    )


def test_model_failure_maps_the_tensorflow_error(call):
    garbage = {"b64": base64.b64encode(b"not a png").decode()}
    body = {"signature_name": "decode_image", "inputs": garbage}

    status, answer = call("POST", TOY, body)

    assert status == 400  # InvalidArgumentError -> INVALID_ARGUMENT
    assert "Unknown image file format" in answer["error"]
