"""ModelService.GetModelStatus: the state of each version of a model.

Every version the manager has seen is reported, highest first, with its
state (START, LOADING, AVAILABLE, UNLOADING or END) and status: OK, or for
a version whose load failed, state END with the load error, as TensorFlow
Serving reports it. Misses use TensorFlow Serving's NOT_FOUND messages
("Could not find version N of model M" / "Could not find any versions of
model M"). Like TensorFlow Serving, a version_label in the spec is ignored.
"""

from tensorflow_serving.apis import get_model_status_pb2

from serving.server import errors
from serving.server import model_spec


def get_model_status(manager, request):
    """Answers a GetModelStatusRequest.

    Raises:
        ServingError: INVALID_ARGUMENT for a missing model_spec, NOT_FOUND
            for an unknown model or version.
    """
    model_spec.require(request)
    name = request.model_spec.name
    statuses = manager.version_statuses(name)
    if request.model_spec.HasField("version"):
        version = request.model_spec.version.value
        statuses = [s for s in statuses if s.version == version]
        if not statuses:
            raise errors.not_found(
                f"Could not find version {version} of model {name}"
            )
    elif not statuses:
        raise errors.not_found(f"Could not find any versions of model {name}")

    response = get_model_status_pb2.GetModelStatusResponse()
    for status in statuses:
        version_status = response.model_version_status.add()
        version_status.version = status.version
        version_status.state = status.state
        version_status.status.error_code = status.error_code.value[0]
        version_status.status.error_message = status.error_message
    return response
