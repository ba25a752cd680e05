"""PredictionService.MultiInference over real gRPC."""

import grpc
import pytest
from tensorflow_serving.apis import inference_pb2

INVALID = grpc.StatusCode.INVALID_ARGUMENT
MODEL = "scorer"
CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"


def _request(examples, *tasks, context=None):
    request = inference_pb2.MultiInferenceRequest()
    for model_name, signature_name, method_name in tasks:
        task = request.tasks.add()
        task.model_spec.name = model_name
        task.model_spec.signature_name = signature_name
        task.method_name = method_name
    if context is None:
        request.input.example_list.examples.extend(examples)
    else:
        with_context = request.input.example_list_with_context
        with_context.context.CopyFrom(context)
        with_context.examples.extend(examples)
    return request


def test_classify_and_regress_run_over_the_same_examples(
    example_stub, make_example
):
    request = _request(
        [make_example(x=[1.0, 2.0]), make_example(x=[3.0, -1.0], bias=[1.0])],
        (MODEL, "classify", CLASSIFY),
        (MODEL, "regress", REGRESS),
        context=make_example(bias=[0.5]),
    )

    response = example_stub.MultiInference(request)

    classification, regression = response.results
    scores = [
        [label.score for label in c.classes]
        for c in classification.classification_result.classifications
    ]
    assert scores == [[1.5, 2.5], [4.0, 0.0]]
    values = [r.value for r in regression.regression_result.regressions]
    assert values == [4.5, 6.0]
    assert classification.model_spec.signature_name == "classify"
    assert regression.model_spec.signature_name == "regress"
    assert regression.model_spec.version.value == 1


@pytest.mark.parametrize(
    "tasks, code, message",
    [
        (
            [(MODEL, "classify", CLASSIFY), (MODEL, "classify", CLASSIFY)],
            INVALID,
            "Duplicate evaluation of signature: classify",
        ),
        (
            [(MODEL, "classify", CLASSIFY), ("other", "regress", REGRESS)],
            INVALID,
            "All ModelSpecs in a MultiInferenceRequest must access the same "
            "model name.",
        ),
        (
            [(MODEL, "predict_scores", "tensorflow/serving/predict")],
            grpc.StatusCode.UNIMPLEMENTED,
            "Unsupported signature method_name: tensorflow/serving/predict",
        ),
        (
            [(MODEL, "regress", CLASSIFY)],
            INVALID,
            "Expected classification signature outputs to contain",
        ),
        (
            [(MODEL, "nope", REGRESS)],
            INVALID,
            "Requested signature not found in model graph: nope",
        ),
        ([], INVALID, "at least one task"),
    ],
)
def test_bad_tasks_are_rejected_before_anything_runs(
    example_stub, make_example, expect_rpc_error, tasks, code, message
):
    request = _request([make_example(x=[1.0, 2.0])], *tasks)

    with expect_rpc_error(code, message):
        example_stub.MultiInference(request)


def test_with_the_method_name_check_task_signatures_need_their_method(
    method_name_check, example_stub, make_example, expect_rpc_error
):
    request = _request(
        [make_example(x=[1.0, 2.0])], (MODEL, "predict_scores", CLASSIFY)
    )

    with expect_rpc_error(
        INVALID,
        "Expected classification signature method_name to be "
        "tensorflow/serving/classify. Was: tensorflow/serving/predict",
    ):
        example_stub.MultiInference(request)


def test_empty_input_is_invalid_argument(example_stub, expect_rpc_error):
    request = _request([], (MODEL, "regress", REGRESS))

    with expect_rpc_error(INVALID, "Input is empty."):
        example_stub.MultiInference(request)
