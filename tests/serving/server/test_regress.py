"""PredictionService.Regress over real gRPC against a TF1-style export."""

import grpc
import pytest
from tensorflow_serving.apis import regression_pb2

INVALID = grpc.StatusCode.INVALID_ARGUMENT
MODEL = "scorer"


def _request(examples, signature_name="regress", context=None):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = signature_name
    if context is None:
        request.input.example_list.examples.extend(examples)
    else:
        with_context = request.input.example_list_with_context
        with_context.context.CopyFrom(context)
        with_context.examples.extend(examples)
    return request


def test_regress_returns_one_value_per_example(example_stub, make_example):
    request = _request(
        [make_example(x=[1.0, 2.0]), make_example(x=[3.0, -1.5])]
    )

    response = example_stub.Regress(request)

    # outputs = 2 * x[0] + x[1] + bias
    assert [r.value for r in response.result.regressions] == [4.0, 4.5]
    assert response.model_spec.name == MODEL
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "regress"


def test_context_is_merged_into_each_example(example_stub, make_example):
    request = _request(
        [make_example(x=[1.0, 2.0]), make_example(x=[0.0, 1.0], bias=[-1.0])],
        context=make_example(bias=[0.25]),
    )

    response = example_stub.Regress(request)

    assert [r.value for r in response.result.regressions] == [4.25, 0.0]


@pytest.mark.parametrize(
    "signature_name, message",
    [
        (
            "",
            "Expected regression signature method_name to be "
            "tensorflow/serving/regress. Was: tensorflow/serving/classify",
        ),
        ("predict_scores", "Was: tensorflow/serving/predict"),
        ("nope", "No signature was found with the name: nope"),
    ],
)
def test_with_the_method_name_check_wrong_signatures_are_rejected(
    method_name_check,
    example_stub,
    make_example,
    expect_rpc_error,
    signature_name,
    message,
):
    request = _request([make_example(x=[1.0, 2.0])], signature_name)

    with expect_rpc_error(INVALID, message):
        example_stub.Regress(request)


@pytest.mark.parametrize(
    "signature_name, message",
    [
        ("", "Expected one output Tensor."),
        ("predict_scores", "No regression outputs found in SignatureDef"),
    ],
)
def test_without_the_check_signatures_need_the_regress_shape(
    example_stub, make_example, expect_rpc_error, signature_name, message
):
    request = _request([make_example(x=[1.0, 2.0])], signature_name)

    with expect_rpc_error(INVALID, message):
        example_stub.Regress(request)


def test_empty_input_is_invalid_argument(example_stub, expect_rpc_error):
    with expect_rpc_error(INVALID, "Input is empty."):
        example_stub.Regress(_request([]))


def test_unknown_model_is_not_found(
    example_stub, make_example, expect_rpc_error
):
    request = _request([make_example(x=[1.0, 2.0])])
    request.model_spec.name = "nope"

    with expect_rpc_error(
        grpc.StatusCode.NOT_FOUND,
        "Servable not found for request: Latest(nope)",
    ):
        example_stub.Regress(request)
