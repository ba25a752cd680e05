"""PredictionService.Classify over real gRPC against a TF1-style export."""

import grpc
import pytest
from tensorflow_serving.apis import classification_pb2

from serving.server import classify
from serving.server.limits import RequestLimits
from serving.server.manager import ModelManager

INVALID = grpc.StatusCode.INVALID_ARGUMENT
MODEL = "scorer"


def _request(examples, signature_name="", context=None):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = signature_name
    if context is None:
        request.input.example_list.examples.extend(examples)
    else:
        with_context = request.input.example_list_with_context
        with_context.context.CopyFrom(context)
        with_context.examples.extend(examples)
    return request


def _labels_and_scores(result):
    return [
        [(label.label, label.score) for label in classification.classes]
        for classification in result.classifications
    ]


def test_classify_returns_labels_and_scores_per_example(
    example_stub, make_example
):
    request = _request(
        [make_example(x=[1.0, 2.0]), make_example(x=[3.0, -1.5])], "classify"
    )

    response = example_stub.Classify(request)

    assert _labels_and_scores(response.result) == [
        [("neg", 1.0), ("pos", 2.0)],
        [("neg", 3.0), ("pos", -1.5)],
    ]
    assert response.model_spec.name == MODEL
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "classify"


def test_context_is_merged_into_each_example_and_examples_win(
    example_stub, make_example
):
    request = _request(
        [make_example(x=[1.0, 2.0]), make_example(x=[0.0, 0.0], bias=[0.5])],
        context=make_example(bias=[10.0]),
    )

    response = example_stub.Classify(request)

    assert _labels_and_scores(response.result) == [
        [("neg", 11.0), ("pos", 12.0)],
        [("neg", 0.5), ("pos", 0.5)],
    ]
    assert response.model_spec.signature_name == "serving_default"


@pytest.mark.parametrize(
    "signature_name, code, message",
    [
        (
            "regress",
            INVALID,
            "Expected classification signature method_name to be "
            "tensorflow/serving/classify. Was: tensorflow/serving/regress",
        ),
        (
            "predict_scores",
            INVALID,
            "Was: tensorflow/serving/predict",
        ),
        ("nope", INVALID, "No signature was found with the name: nope"),
    ],
)
def test_with_the_method_name_check_wrong_signatures_are_rejected(
    method_name_check,
    example_stub,
    make_example,
    expect_rpc_error,
    signature_name,
    code,
    message,
):
    request = _request([make_example(x=[1.0, 2.0])], signature_name)

    with expect_rpc_error(code, message):
        example_stub.Classify(request)


def test_without_the_check_a_predict_signature_of_classify_shape_classifies(
    example_stub, make_example
):
    # As a TF2 export's classify signature, labelled "predict", would.
    request = _request([make_example(x=[1.0, 2.0])], "predict_scores")

    response = example_stub.Classify(request)

    assert _labels_and_scores(response.result) == [[("", 1.0), ("", 2.0)]]


def test_without_the_check_outputs_must_still_fit_classify(
    example_stub, make_example, expect_rpc_error
):
    with expect_rpc_error(
        INVALID,
        "Expected classification signature outputs to contain at least one "
        'of "classes" or "scores".',
    ):
        example_stub.Classify(_request([make_example(x=[1.0, 2.0])], "regress"))


def test_empty_input_is_invalid_argument(example_stub, expect_rpc_error):
    with expect_rpc_error(INVALID, "Input is empty."):
        example_stub.Classify(_request([], "classify"))


def test_missing_model_spec_is_invalid_argument(example_stub, expect_rpc_error):
    with expect_rpc_error(INVALID, "Missing ModelSpec"):
        example_stub.Classify(classification_pb2.ClassificationRequest())


def test_unparsable_example_keeps_the_model_error_code(
    example_stub, make_example, expect_rpc_error
):
    with expect_rpc_error(INVALID, "x"):
        example_stub.Classify(_request([make_example(x=[1.0, 2.0, 3.0])]))


def test_context_copied_into_many_examples_is_resource_exhausted(
    example_servable, make_example
):
    manager = ModelManager()
    manager.add(example_servable)
    big_context = make_example(bias=[0.0] * 1000)
    request = _request([make_example(x=[1.0, 2.0])] * 100, context=big_context)

    with pytest.raises(classify.errors.ServingError) as raised:
        classify.classify(
            manager, request, RequestLimits(max_decoded_bytes=100_000)
        )

    assert raised.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_decoded_bytes" in raised.value.message
