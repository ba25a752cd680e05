"""ModelService.GetModelStatus: the state of each loaded version.

Servables enter the manager only once fully loaded, so every version it
holds is AVAILABLE with an OK status. Misses use TensorFlow Serving's
NOT_FOUND messages ("Could not find version N of model M" / "Could not
find any versions of model M").
"""

from tensorflow_serving.apis import get_model_status_pb2

from serving.server import errors
from serving.server import model_spec

_AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE


def get_model_status(manager, request):
    """Answers a GetModelStatusRequest.

    Raises:
        ServingError: INVALID_ARGUMENT for a missing model_spec, NOT_FOUND
            for an unknown model or version.
    """
    model_spec.require(request)
    name = request.model_spec.name
    servables = manager.versions(name)
    if request.model_spec.HasField("version"):
        version = request.model_spec.version.value
        servables = [s for s in servables if s.version == version]
        if not servables:
            raise errors.not_found(
                f"Could not find version {version} of model {name}"
            )
    elif not servables:
        raise errors.not_found(f"Could not find any versions of model {name}")

    response = get_model_status_pb2.GetModelStatusResponse()
    for servable in servables:
        version_status = response.model_version_status.add()
        version_status.version = servable.version
        version_status.state = _AVAILABLE
        # status.error_code stays 0 (OK) and error_message empty.
    return response
