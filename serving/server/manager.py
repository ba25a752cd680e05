"""The set of servables the server answers for, looked up by ModelSpec.

The manager may hold several models and several versions of each; which
versions get loaded is the caller's decision (today: the latest one).
Lookups follow TensorFlow Serving: a ModelSpec without a version asks for
the latest (highest) loaded version, and a miss is NOT_FOUND with
"Servable not found for request: Latest(name)" or "Specific(name, N)".
"""

import threading

from serving.server import errors


class ModelManager:
    """Holds loaded servables by model name and version. Thread-safe.

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

    def add(self, servable):
        """Makes a servable available, replacing one with the same id."""
        with self._lock:
            versions = self._servables.setdefault(servable.name, {})
            versions[servable.version] = servable

    def versions(self, model_name):
        """Returns the model's servables sorted by version (maybe empty)."""
        with self._lock:
            versions = self._servables.get(model_name, {})
            return [versions[number] for number in sorted(versions)]

    def resolve(self, model_spec):
        """Finds the servable a request's ModelSpec asks for.

        Raises:
            ServingError: INVALID_ARGUMENT for a version label (no labels are
                configured), NOT_FOUND for an unknown model or version.
        """
        if model_spec.version_label:
            raise errors.invalid_argument(
                "Unrecognized servable version label: "
                f"{model_spec.version_label}"
            )
        servables = self.versions(model_spec.name)
        if not model_spec.HasField("version"):
            if servables:
                return servables[-1]
            raise errors.not_found(
                f"Servable not found for request: Latest({model_spec.name})"
            )
        for servable in servables:
            if servable.version == model_spec.version.value:
                return servable
        raise errors.not_found(
            "Servable not found for request: "
            f"Specific({model_spec.name}, {model_spec.version.value})"
        )
