"""PredictionService.MultiInference: several classify/regress tasks, one input.

All tasks name the same model; the version is the first task's. Each task
runs its own signature over the same serialized tf.Examples (context
merged once), and the response has one result per task, in order. As in
TensorFlow Serving, a signature may appear once. The signatures need not
share their input tensor: a TF2 export gives each signature its own, and
TensorFlow Serving (since 2.4) feeds the examples to every input tensor
the tasks name, for TF1 models too.

TensorFlow Serving runs all tasks in one Session::Run; here each task is
one call of its signature, so graph nodes the signatures share run once
per task. The answers are the same for any model without state that
changes as it runs.
"""

from tensorflow_serving.apis import inference_pb2
from tensorflow_serving.apis import model_pb2

from serving.server import classify
from serving.server import errors
from serving.server import example_inference
from serving.server import model_spec
from serving.server import regress
from serving.server import validation
from serving.server.limits import DEFAULT_LIMITS

# method name -> (module with prepare/to_result, the result's oneof field)
_KINDS = {
    classify.METHOD_NAME: (classify, "classification_result"),
    regress.METHOD_NAME: (regress, "regression_result"),
}


def multi_inference(
    manager, request, limits=DEFAULT_LIMITS, runner=None, deadline=None
):
    """Answers a MultiInferenceRequest.

    Args:
        manager: ModelManager. Where the requested servable is looked up.
        request: inference_pb2.MultiInferenceRequest.
        limits: RequestLimits. Caps on the examples' size.
        runner: SignatureRunner | None. Runs (and maybe batches) each
            task's signature; None runs them on their own.
        deadline: float | None. `time.monotonic()` time after which the
            client no longer waits.

    Returns:
        inference_pb2.MultiInferenceResponse.

    Raises:
        ServingError: INVALID_ARGUMENT for no tasks, tasks naming other
            models, a repeated or unknown signature or an empty input;
            UNIMPLEMENTED for a task
            method other than classify/regress; NOT_FOUND for an unknown
            servable.
    """
    if not request.tasks:
        raise errors.invalid_argument(
            "MultiInferenceRequest must have at least one task."
        )
    validation.check_request_size(request, limits)
    servable = manager.resolve(_first_model_spec(request))
    plans = _plan_tasks(servable, request.tasks)
    serialized = example_inference.serialize_examples(request.input, limits)
    context = example_inference.make_context(manager, limits, runner, deadline)

    response = inference_pb2.MultiInferenceResponse()
    for name, kind, (key, output_keys) in plans:
        module, field = _KINDS[kind]
        outputs = example_inference.run(
            servable, name, key, serialized, context
        )
        result = response.results.add()
        module.to_result(
            output_keys, outputs, len(serialized), getattr(result, field)
        )
        model_spec.fill(result.model_spec, servable, name)
    return response


def _first_model_spec(request):
    first = request.tasks[0]
    return (
        first.model_spec
        if first.HasField("model_spec")
        else (model_pb2.ModelSpec())
    )


def _plan_tasks(servable, tasks):
    """Checks every task before any runs; returns what each one runs."""
    _check_model_names(tasks)
    _check_unique_signatures(tasks)
    return [_plan_task(servable, task) for task in tasks]


def _check_model_names(tasks):
    model_name = tasks[0].model_spec.name
    for task in tasks:
        if not task.model_spec.name:
            raise errors.invalid_argument(
                "Found ModelSpec with an empty model name."
            )
        if task.model_spec.name != model_name:
            raise errors.invalid_argument(
                "All ModelSpecs in a MultiInferenceRequest must access the "
                "same model name."
            )


def _check_unique_signatures(tasks):
    seen = set()
    for task in tasks:
        name = example_inference.signature_name(task.model_spec)
        if name in seen:
            raise errors.invalid_argument(
                f"Duplicate evaluation of signature: {name}"
            )
        seen.add(name)


def _plan_task(servable, task):
    name = example_inference.signature_name(task.model_spec)
    signature_def = _requested_signature_def(servable, name)
    if task.method_name not in _KINDS:
        raise errors.unimplemented(
            f"Unsupported signature method_name: {task.method_name}"
        )
    module, _ = _KINDS[task.method_name]
    return name, task.method_name, module.prepare(signature_def)


def _requested_signature_def(servable, name):
    signature_def = servable.signature_defs.get(name)
    if signature_def is None:
        raise errors.invalid_argument(
            f"Requested signature not found in model graph: {name}"
        )
    return signature_def
