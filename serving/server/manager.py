"""The servables the server answers for, their states and version labels.

The manager may hold several models and several versions of each; which
versions get loaded is decided elsewhere (`server_core`). It records every
version's life cycle as TensorFlow Serving reports it in GetModelStatus,
START -> LOADING -> AVAILABLE -> UNLOADING -> END, where a failed load ends
in END with the error. Only AVAILABLE versions answer requests.

Lookups follow TensorFlow Serving: a ModelSpec without a version asks for
the latest (highest) available version, a version_label is resolved
through the model's configured labels, and a miss is NOT_FOUND with
"Servable not found for request: Latest(name)" or "Specific(name, N)".
"""

import dataclasses
import threading

import grpc
from tensorflow_serving.apis import get_model_status_pb2

from serving.server import errors

_State = get_model_status_pb2.ModelVersionStatus.State
START = _State.Value("START")
LOADING = _State.Value("LOADING")
AVAILABLE = _State.Value("AVAILABLE")
UNLOADING = _State.Value("UNLOADING")
END = _State.Value("END")


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """Where one version is in its life cycle.

    Args:
        version: int. The version number.
        state: int. A ModelVersionStatus.State value (START ... END).
        error_code: grpc.StatusCode. OK unless loading failed.
        error_message: str. Why loading failed, else empty.
    """

    version: int
    state: int
    error_code: grpc.StatusCode = grpc.StatusCode.OK
    error_message: str = ""


class ModelManager:
    """Holds servables by model name and version. Thread-safe.

    Example:

    ```python
    manager = ModelManager()
    manager.add(loader.load_latest("toy", "/models/toy"))
    servable = manager.resolve(request.model_spec)
    ```
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._servables = {}
        self._statuses = {}
        self._labels = {}

    def add(self, servable):
        """Makes a servable AVAILABLE, replacing one with the same id."""
        with self._lock:
            versions = self._servables.setdefault(servable.name, {})
            versions[servable.version] = servable
            self._set_status(servable.name, servable.version, AVAILABLE)

    def set_state(self, model_name, version, state):
        """Records START or LOADING for a version not yet available."""
        if state not in (START, LOADING):
            raise ValueError(
                f"set_state takes START or LOADING, got {_State.Name(state)}; "
                "use add(), unload() or fail() for the other states."
            )
        with self._lock:
            self._set_status(model_name, version, state)

    def fail(self, model_name, version, error_code, error_message):
        """Records that loading a version failed for good (END + error)."""
        with self._lock:
            self._statuses.setdefault(model_name, {})[version] = VersionStatus(
                version, END, error_code, error_message
            )

    def unload(self, model_name, version):
        """Stops serving a version: UNLOADING, then END.

        Requests already running keep their reference to the servable and
        finish; new requests no longer resolve to it.
        """
        with self._lock:
            self._set_status(model_name, version, UNLOADING)
            self._servables.get(model_name, {}).pop(version, None)
            self._set_status(model_name, version, END)

    def versions(self, model_name):
        """Returns the model's AVAILABLE servables sorted by version."""
        with self._lock:
            versions = self._servables.get(model_name, {})
            return [versions[number] for number in sorted(versions)]

    def version_statuses(self, model_name):
        """Returns every version's VersionStatus, highest version first.

        Unloaded and failed versions stay listed (state END), as in
        TensorFlow Serving's servable state monitor.
        """
        with self._lock:
            statuses = self._statuses.get(model_name, {})
            return [statuses[number] for number in sorted(statuses)[::-1]]

    def set_labels(self, model_name, labels):
        """Replaces a model's version labels (dict label -> version)."""
        with self._lock:
            self._labels[model_name] = dict(labels)

    def labels(self, model_name):
        with self._lock:
            return dict(self._labels.get(model_name, {}))

    def resolve(self, model_spec):
        """Finds the servable a request's ModelSpec asks for.

        Raises:
            ServingError: INVALID_ARGUMENT for an unknown version label,
                NOT_FOUND for an unknown model or version.
        """
        if model_spec.version_label:
            version = self._version_for_label(
                model_spec.name, model_spec.version_label
            )
            return self._specific(model_spec.name, version)
        if model_spec.HasField("version"):
            return self._specific(model_spec.name, model_spec.version.value)
        servables = self.versions(model_spec.name)
        if servables:
            return servables[-1]
        raise errors.not_found(
            f"Servable not found for request: Latest({model_spec.name})"
        )

    def _version_for_label(self, model_name, label):
        version = self.labels(model_name).get(label)
        if version is None:
            raise errors.invalid_argument(
                f"Unrecognized servable version label: {label}"
            )
        return version

    def _specific(self, model_name, version):
        with self._lock:
            servable = self._servables.get(model_name, {}).get(version)
        if servable is None:
            raise errors.not_found(
                "Servable not found for request: "
                f"Specific({model_name}, {version})"
            )
        return servable

    def _set_status(self, model_name, version, state):
        self._statuses.setdefault(model_name, {})[version] = VersionStatus(
            version, state
        )
