"""Keeping the served versions in line with the config and the disk.

`ServerCore` plays TensorFlow Serving's ServerCore with the
AvailabilityPreservingPolicy:

- `reload_config` applies a ModelServerConfig: it checks it, sets the
  version labels, unloads models no longer listed, loads the versions each
  model's version policy asks for, and fails if a newly added model has no
  available version afterwards;
- `poll` re-reads every base path and loads / unloads versions as they
  appear and disappear.

A new version is loaded (and warmed up) and becomes AVAILABLE before any
old one is unloaded, so clients asking for the latest version never see a
gap. An old version is unloaded once some version the policy asks for is
available (or when the policy asks for none); while none is, only the
newest old version is kept. A version that fails to load is retried, then
shown as END with its error; it is not tried again while the policy still
asks for it, and it never displaces a working version.
"""

import copy
import dataclasses
import logging
import threading
from concurrent import futures

import grpc

from serving.server import errors
from serving.server import load_retry
from serving.server import loader
from serving.server import manager as states
from serving.server import version_policy
from serving.server import warmup
from serving.server.config import messages
from serving.server.config import text_proto
from serving.server.config.model_config import validate_model_server_config
from serving.server.session_servable import SessionOptions

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LoadOptions:
    """How versions are loaded; TensorFlow Serving's flag defaults.

    Args:
        max_num_load_retries: int. Retries after a failed load.
        load_retry_interval_seconds: float. Wait between retries.
        enable_model_warmup: bool. Replay assets.extra warmup requests.
        warmup_iterations: int. Times each warmup request runs.
        prefer_tflite_model: bool. Serve model.tflite when present.
        allow_version_labels_for_unavailable_models: bool. Let a label name
            a version that is not (yet) available.
        session_options: SessionOptions. Threading of SavedModel sessions.
        num_load_threads: int. Versions loaded at once; 0 loads them one
            by one (--num_load_threads).
        num_tflite_interpreters: int. LiteRT interpreters per TFLite
            version (--num_tflite_pools).
        per_model_batching: bool. Batch a version only if it has a
            batching_params.pbtxt, with its parameters
            (--enable_per_model_batching_parameters with batching on).
    """

    max_num_load_retries: int = 5
    load_retry_interval_seconds: float = 60.0
    enable_model_warmup: bool = True
    warmup_iterations: int = 1
    prefer_tflite_model: bool = False
    allow_version_labels_for_unavailable_models: bool = False
    session_options: SessionOptions = SessionOptions()
    num_load_threads: int = 0
    num_tflite_interpreters: int = 1
    per_model_batching: bool = False


class ServerCore:
    """Loads and unloads versions into a ModelManager. Thread-safe.

    Args:
        manager: ModelManager. Where versions are published.
        options: LoadOptions.
        stop_event: threading.Event | None. Once set, loading stops early
            (between versions and during retry waits).
        on_load: callable(name, version, outcome) | None. Told of every
            load's outcome, "success" or "fail" (for metrics).

    Example:

    ```python
    core = ServerCore(ModelManager(), LoadOptions(max_num_load_retries=0))
    core.reload_config(single_model_config("toy", "/models/toy"))
    Poller(1.0, core.poll, "file-system-poll").start()
    ```
    """

    def __init__(
        self, manager, options=LoadOptions(), stop_event=None, on_load=None
    ):
        self.manager = manager
        self.options = options
        self._on_load = on_load or (lambda name, version, outcome: None)
        self._stop = stop_event or threading.Event()
        # One reconciliation at a time: polls and reloads must not load the
        # same version twice or unload what the other just loaded.
        self._lock = threading.Lock()
        self._config = messages.ModelServerConfig()
        self._failed = {}
        self._ignored_directories = {}

    @property
    def config(self):
        """A copy of the ModelServerConfig currently applied."""
        with self._lock:
            return copy.deepcopy(self._config)

    def reload_config(self, new_config):
        """Applies a ModelServerConfig, as HandleReloadConfigRequest does.

        Raises:
            ServingError: INVALID_ARGUMENT for an invalid config,
                FAILED_PRECONDITION for a label on an unavailable version,
                UNKNOWN if a newly added model has no available version.
        """
        try:
            validate_model_server_config(new_config)
        except ValueError as error:
            raise errors.invalid_argument(str(error)) from error
        if new_config.WhichOneof("config") is None:
            logger.info("Taking no action for empty config.")
            return
        with self._lock:
            labels = self._checked_labels(new_config)
            old_names = _model_names(self._config)
            self._config = copy.deepcopy(new_config)
            for name in old_names - _model_names(new_config):
                self._remove_model(name)
            for name, model_labels in labels.items():
                self.manager.set_labels(name, model_labels)
            problems = self._sync_all()
            new_names = _model_names(new_config) - old_names
            self._check_available(sorted(new_names), problems)

    def poll(self):
        """Loads new versions and unloads old ones for every model."""
        with self._lock:
            for name, problem in self._sync_all().items():
                logger.warning("Cannot poll model %s: %s", name, problem)

    def _sync_all(self):
        problems, plans = {}, []
        for model in self._config.model_config_list.config:
            if self._stop.is_set():
                break
            try:
                plans.append(self._plan(model))
            except (OSError, ValueError) as error:
                problems[model.name] = str(error)
        self._load_all(
            [
                (model, version)
                for model, _, to_load, _ in plans
                for version in to_load
            ]
        )
        if self._stop.is_set():
            return problems
        for model, aspired, _, on_disk in plans:
            self._unload_unaspired(model.name, aspired)
            if not on_disk:
                problems[model.name] = (
                    f"No versions of model {model.name!r} found under base "
                    f"path {model.base_path!r}. Expected numbered "
                    "subdirectories such as "
                    f"{model.base_path.rstrip('/')}/1."
                )
        return problems

    def _plan(self, model):
        """(model, aspired versions, versions to load, versions on disk)."""
        on_disk = self._find_versions(model)
        aspired = version_policy.aspired_versions(
            model.model_version_policy, on_disk
        )
        failed = self._failed.setdefault(model.name, set())
        failed &= aspired
        available = {s.version for s in self.manager.versions(model.name)}
        to_load = sorted(aspired - available - failed, reverse=True)
        return model, aspired, to_load, on_disk

    def _load_all(self, loads):
        """Loads (model, version) pairs, --num_load_threads at a time (one
        by one for 0), newest first within a model."""
        threads = self.options.num_load_threads
        if threads < 1 or len(loads) < 2:
            for model, version in loads:
                self._load_unless_stopping(model, version)
            return
        with futures.ThreadPoolExecutor(
            min(threads, len(loads)), thread_name_prefix="load"
        ) as pool:
            for done in [
                pool.submit(self._load_unless_stopping, model, version)
                for model, version in loads
            ]:
                done.result()

    def _load_unless_stopping(self, model, version):
        if not self._stop.is_set():
            self._load(model, version)

    def _find_versions(self, model):
        directories = loader.find_version_directories(model.base_path)
        # Warned once per change, not on every poll.
        if directories.ignored != self._ignored_directories.get(model.name):
            self._ignored_directories[model.name] = directories.ignored
            for name in directories.ignored:
                version = loader.parse_version(name)
                logger.warning(
                    "Duplicate version directories detected. Version %d of "
                    "model %s will be loaded from %s, %s will be ignored.",
                    version,
                    model.name,
                    directories.by_version[version],
                    name,
                )
        return sorted(directories.by_version)

    def _load(self, model, version):
        name = model.name
        self.manager.set_state(name, version, states.START)
        self.manager.set_state(name, version, states.LOADING)
        logger.info(
            "Loading servable version {name: %s version: %d}", name, version
        )
        try:
            servable = load_retry.load_with_retries(
                lambda: self._load_version(model, version),
                self.options.max_num_load_retries,
                self._wait_before_retry,
            )
        except Exception as error:  # any load failure becomes its status
            code, message = load_retry.load_error_status(error)
            logger.error(
                "Loading servable: {name: %s version: %d} failed: %s",
                name,
                version,
                message,
            )
            self.manager.fail(name, version, code, message)
            # Loads may run on several threads; set.add is atomic.
            self._failed[name].add(version)
            self._on_load(name, version, "fail")
            return
        self.manager.add(servable)
        self._on_load(name, version, "success")
        logger.info(
            "Successfully loaded servable version {name: %s version: %d}",
            name,
            version,
        )

    def _load_version(self, model, version):
        servable = loader.load_servable(
            model.name,
            model.base_path,
            version,
            prefer_tflite=self.options.prefer_tflite_model,
            session_options=self.options.session_options,
            num_tflite_interpreters=self.options.num_tflite_interpreters,
            per_model_batching=self.options.per_model_batching,
        )
        if self.options.enable_model_warmup:
            warmup.run_warmup(servable, self.options.warmup_iterations)
        return servable

    def _wait_before_retry(self):
        return not self._stop.wait(self.options.load_retry_interval_seconds)

    def _unload_unaspired(self, name, aspired):
        available = [s.version for s in self.manager.versions(name)]
        unaspired = [v for v in available if v not in aspired]
        if aspired and not set(available) & aspired:
            # Nothing the policy wants is up yet: keep the newest old one.
            unaspired = unaspired[:-1]
        for version in unaspired:
            logger.info(
                "Unloading servable version {name: %s version: %d}",
                name,
                version,
            )
            self.manager.unload(name, version)

    def _remove_model(self, name):
        for servable in self.manager.versions(name):
            self.manager.unload(name, servable.version)
        self.manager.set_labels(name, {})
        self._failed.pop(name, None)
        self._ignored_directories.pop(name, None)

    def _checked_labels(self, new_config):
        labels = {}
        for model in new_config.model_config_list.config:
            current = self.manager.labels(model.name)
            available = {s.version for s in self.manager.versions(model.name)}
            for label, version in model.version_labels.items():
                if version not in available and not self._may_label_unavailable(
                    current, label, version
                ):
                    raise errors.ServingError(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"Request to assign label to version {version} of "
                        f"model {model.name}, which is not currently "
                        "available for inference",
                    )
            labels[model.name] = dict(model.version_labels)
        return labels

    def _may_label_unavailable(self, current_labels, label, version):
        # Even when allowed, moving an existing label to an unavailable
        # version is refused: clients using it would start failing.
        return (
            self.options.allow_version_labels_for_unavailable_models
            and current_labels.get(label, version) == version
        )

    def _check_available(self, names, problems):
        missing = []
        for name in names:
            if self.manager.versions(name):
                continue
            reason = problems.get(name) or self._unavailable_reason(name)
            missing.append(f"{{name: {name}}} due to error: {reason}")
        if missing:
            raise errors.ServingError(
                grpc.StatusCode.UNKNOWN,
                f"{len(missing)} model(s) did not become available: "
                f"{{{', '.join(missing)}}}",
            )

    def _unavailable_reason(self, name):
        load_errors = [
            f"version {status.version}: {status.error_message}"
            for status in self.manager.version_statuses(name)
            if status.error_code != grpc.StatusCode.OK
        ]
        if load_errors:
            return "; ".join(load_errors)
        if self._stop.is_set():
            return "the server is stopping"
        return "no version on disk matches its model_version_policy"


def reload_config_file(core, path):
    """Re-reads a ModelServerConfig file and applies it; logs failures.

    Returns:
        bool: whether the config was applied.
    """
    try:
        config = text_proto.read_text_proto(path, messages.ModelServerConfig)
    except (OSError, ValueError) as error:
        logger.error("Failed to read ModelServerConfig file: %s", error)
        return False
    try:
        core.reload_config(config)
    except errors.ServingError as error:
        logger.error("Failed to reload config from %s: %s", path, error.message)
        return False
    return True


def _model_names(config):
    return {model.name for model in config.model_config_list.config}
