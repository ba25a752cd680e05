"""ModelServerConfig: building it from flags and checking it.

The checks and their messages are TensorFlow Serving's (server_core.cc):
model names are unique, base paths absolute, the platform set and one this
server has. Only `model_config_list` is supported, as in the official
server, which rejects `custom_model_config`.
"""

import os

from serving.server.config import messages

TENSORFLOW_PLATFORM = "tensorflow"


def single_model_config(model_name, model_base_path):
    """The config `--model_name` and `--model_base_path` stand for.

    A relative base path is made absolute here, against the working
    directory, as the official server does when the path comes from a flag.
    """
    config = messages.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = model_name
    model.base_path = os.path.abspath(model_base_path)
    model.model_platform = TENSORFLOW_PLATFORM
    return config


def validate_model_server_config(config):
    """Checks a ModelServerConfig before any model is (re)loaded.

    Raises:
        ValueError: naming the first problem found.
    """
    if config.WhichOneof("config") == "custom_model_config":
        raise ValueError(
            "ServerModelConfig type not supported: custom_model_config. "
            "Only ModelConfigList is currently supported."
        )
    names = set()
    for model in config.model_config_list.config:
        if model.name in names:
            raise ValueError(
                f"Illegal to list model {model.name} multiple times in "
                "config list"
            )
        names.add(model.name)
        _validate_model_config(model)


def _validate_model_config(model):
    if not model.name:
        raise ValueError(
            "Every config in model_config_list needs a name; got one with "
            f"base_path {model.base_path!r} and none."
        )
    if not os.path.isabs(model.base_path):
        raise ValueError(
            f"Expected model {model.name} to have an absolute path or URI; "
            f"got base_path()={model.base_path}"
        )
    if not model.model_platform:
        raise ValueError(
            "Illegal setting neither ModelServerConfig::model_type "
            "(deprecated) nor ModelServerConfig::model_platform. "
            f'Add model_platform: "{TENSORFLOW_PLATFORM}" to model '
            f"{model.name}."
        )
    if model.model_platform != TENSORFLOW_PLATFORM:
        raise ValueError(
            f"Model {model.name} requests unsupported platform "
            f"{model.model_platform}"
        )
