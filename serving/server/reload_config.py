"""ModelService.HandleReloadConfigRequest: apply a new ModelServerConfig.

As in TensorFlow Serving, only a `model_config_list` is accepted; models
are added, removed or changed as `ServerCore.reload_config` describes, and
the call returns once newly added models are available. Success is an
empty (OK) status in the response; a failure is the RPC's status.
"""

from tensorflow_serving.apis import model_management_pb2

from serving.server import errors


def handle_reload_config_request(core, request):
    """Answers a ReloadConfigRequest.

    Args:
        core: ServerCore. Applies the config.
        request: model_management_pb2.ReloadConfigRequest.

    Raises:
        ServingError: INVALID_ARGUMENT for a config that is not a
            model_config_list or is invalid; see ServerCore.reload_config.
    """
    if request.config.WhichOneof("config") != "model_config_list":
        raise errors.invalid_argument(
            "ServerModelConfig type not supported by "
            "HandleReloadConfigRequest. Only ModelConfigList is currently "
            "supported"
        )
    core.reload_config(request.config)
    return model_management_pb2.ReloadConfigResponse()
