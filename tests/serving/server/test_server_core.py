"""ServerCore: version policies, labels, polling, swaps and failed loads,
with real SavedModels on disk."""

import logging
import re
import threading

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_pb2

from serving.client import PredictionClient
from serving.server import errors
from serving.server.config import messages
from serving.server.config.model_config import single_model_config
from serving.server.config.text_proto import parse_text_proto
from serving.server.manager import ModelManager
from serving.server.poller import Poller
from serving.server.server_core import LoadOptions
from serving.server.server_core import ServerCore
from serving.server.server_core import reload_config_file

FAST = LoadOptions(max_num_load_retries=0, load_retry_interval_seconds=0.01)
STATE_NAME = get_model_status_pb2.ModelVersionStatus.State.Name
X = np.array([[1.0, 2.0]], np.float32)


def _config(*models):
    """models: (name, base_path, extra text) -> ModelServerConfig."""
    entries = "".join(
        f'config {{ name: "{name}" base_path: "{path}" '
        f'model_platform: "tensorflow" {extra} }}'
        for name, path, extra in models
    )
    return parse_text_proto(
        f"model_config_list {{ {entries} }}",
        messages.ModelServerConfig,
        "test",
    )


def _core(options=FAST):
    return ServerCore(ModelManager(), options)


def _available(core, name="toy"):
    return [servable.version for servable in core.manager.versions(name)]


def _states(core, name="toy"):
    return {
        status.version: STATE_NAME(status.state)
        for status in core.manager.version_statuses(name)
    }


def test_single_model_config_loads_the_latest_version(make_base_path):
    core = _core()

    core.reload_config(single_model_config("toy", str(make_base_path(1, 2))))

    assert _available(core) == [2]
    assert _states(core) == {2: "AVAILABLE"}


@pytest.mark.parametrize(
    "policy, expected",
    [
        ("", [3]),
        ("model_version_policy { latest { num_versions: 2 } }", [2, 3]),
        ("model_version_policy { all {} }", [1, 2, 3]),
        (
            "model_version_policy { specific { versions: 1 versions: 3 "
            "versions: 7 } }",
            [1, 3],
        ),
    ],
)
def test_version_policies(make_base_path, policy, expected):
    core = _core()

    core.reload_config(_config(("toy", make_base_path(1, 2, 3), policy)))

    assert _available(core) == expected


def test_labels_resolve_once_their_versions_are_available(make_base_path):
    base_path = make_base_path(1, 2)
    everything = "model_version_policy { all {} }"
    core = _core()
    core.reload_config(_config(("toy", base_path, everything)))
    labels = 'version_labels { key: "stable" value: 1 } ' + (
        'version_labels { key: "canary" value: 2 }'
    )

    core.reload_config(_config(("toy", base_path, everything + labels)))

    for label, version in (("stable", 1), ("canary", 2)):
        spec = model_pb2.ModelSpec(name="toy", version_label=label)
        assert core.manager.resolve(spec).version == version
    with pytest.raises(errors.ServingError) as raised:
        core.manager.resolve(model_pb2.ModelSpec(name="toy", version_label="x"))
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.message == "Unrecognized servable version label: x"


def test_label_on_an_unavailable_version_is_failed_precondition(
    make_base_path,
):
    config = _config(
        ("toy", make_base_path(1), 'version_labels { key: "s" value: 1 }')
    )

    with pytest.raises(errors.ServingError) as raised:
        _core().reload_config(config)

    assert raised.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert raised.value.message == (
        "Request to assign label to version 1 of model toy, which is not "
        "currently available for inference"
    )


def test_labels_for_unavailable_versions_when_allowed(make_base_path):
    config = _config(
        ("toy", make_base_path(1), 'version_labels { key: "s" value: 1 }')
    )
    core = _core(
        LoadOptions(
            max_num_load_retries=0,
            allow_version_labels_for_unavailable_models=True,
        )
    )

    core.reload_config(config)

    spec = model_pb2.ModelSpec(name="toy", version_label="s")
    assert core.manager.resolve(spec).version == 1


def test_poll_loads_a_new_version_then_unloads_the_old(
    make_base_path, add_toy_version
):
    base_path = make_base_path(1)
    core = _core()
    core.reload_config(single_model_config("toy", str(base_path)))
    add_toy_version(base_path, 2)

    core.poll()

    assert _available(core) == [2]
    assert _states(core) == {2: "AVAILABLE", 1: "END"}


def test_poll_unloads_a_version_removed_from_disk(make_base_path):
    base_path = make_base_path(1, 2)
    core = _core()
    core.reload_config(
        _config(("toy", base_path, "model_version_policy { all {} }"))
    )
    (base_path / "2").rename(base_path / ".deleted-2")

    core.poll()

    assert _available(core) == [1]


def test_poller_picks_up_a_new_version(
    make_base_path, add_toy_version, wait_until
):
    base_path = make_base_path(1)
    core = _core()
    core.reload_config(single_model_config("toy", str(base_path)))
    poller = Poller(0.1, core.poll, "test-poll").start()
    try:
        add_toy_version(base_path, 3)
        wait_until(lambda: _available(core) == [3])
    finally:
        poller.stop()


def test_requests_during_a_version_swap_never_fail(
    make_base_path, add_toy_version, serve_core
):
    base_path = make_base_path(1)
    core = _core()
    core.reload_config(single_model_config("toy", str(base_path)))
    address = serve_core(core)
    swapped = threading.Event()
    answers, failures = [], []

    def send_requests():
        with PredictionClient(address) as client:
            # Until the swap is done, then 20 more: bounded, not timed.
            remaining = 20
            while remaining:
                try:
                    y = client.predict("toy", {"text": ["a"], "x": X})["y"]
                    answers.append(float(y[0, 0]))
                except grpc.RpcError as error:
                    failures.append(error)
                if swapped.is_set():
                    remaining -= 1

    # Steady concurrent load: four clients sending back to back.
    senders = [threading.Thread(target=send_requests) for _ in range(4)]
    for sender in senders:
        sender.start()
    try:
        add_toy_version(base_path, 2)
        core.poll()
        swapped.set()
        for sender in senders:
            sender.join(timeout=60)
    finally:
        swapped.set()

    assert not failures
    assert len(answers) >= 4 * 20
    assert answers[-1] == 2.0
    assert set(answers) <= {1.0, 2.0}
    assert _states(core) == {2: "AVAILABLE", 1: "END"}


def test_corrupt_new_version_keeps_the_old_one_and_reports_the_error(
    make_base_path, add_corrupt_version, serve_core
):
    base_path = make_base_path(1)
    core = _core()
    core.reload_config(single_model_config("toy", str(base_path)))
    add_corrupt_version(base_path, 2)

    core.poll()
    core.poll()  # a failed version is not retried while still aspired

    assert _available(core) == [1]
    with PredictionClient(serve_core(core)) as client:
        statuses = client.status("toy")
    assert [(s["version"], s["state"]) for s in statuses] == [
        (2, "END"),
        (1, "AVAILABLE"),
    ]
    assert statuses[0]["error_code"] != 0
    assert statuses[0]["error_message"]
    assert statuses[1]["error_code"] == 0


def test_failed_load_is_retried_then_given_up(
    make_base_path, add_corrupt_version, caplog
):
    base_path = make_base_path()
    add_corrupt_version(base_path, 1)
    core = _core(
        LoadOptions(max_num_load_retries=2, load_retry_interval_seconds=0.01)
    )

    with caplog.at_level(logging.WARNING, logger="serving.server"):
        with pytest.raises(errors.ServingError) as raised:
            core.reload_config(single_model_config("toy", str(base_path)))

    assert raised.value.code == grpc.StatusCode.UNKNOWN
    assert raised.value.message.startswith(
        "1 model(s) did not become available: {{name: toy} due to error: "
        "version 1: "
    )
    retries = re.findall(r"retry (\d) of 2", caplog.text)
    assert retries == ["1", "2"]
    assert _states(core) == {1: "END"}


def test_missing_base_path_fails_the_reload_naming_it(tmp_path):
    missing = tmp_path / "nowhere"

    with pytest.raises(errors.ServingError) as raised:
        _core().reload_config(single_model_config("toy", str(missing)))

    assert f"Model base path '{missing}' does not exist" in (
        raised.value.message
    )


def test_stopping_cancels_loading(make_base_path):
    stop = threading.Event()
    stop.set()
    core = ServerCore(ModelManager(), FAST, stop)

    with pytest.raises(errors.ServingError, match="the server is stopping"):
        core.reload_config(single_model_config("toy", str(make_base_path(1))))


def test_config_file_poll_adds_a_model(tmp_path, make_base_path, wait_until):
    first = make_base_path(1, name="first")
    second = make_base_path(2, name="second")
    config_file = tmp_path / "models.config"
    config_file.write_text(str(_config(("first", first, ""))))
    core = _core()
    assert reload_config_file(core, str(config_file))
    poller = Poller(
        0.1, lambda: reload_config_file(core, str(config_file)), "cfg"
    ).start()
    try:
        config_file.write_text(
            str(_config(("first", first, ""), ("second", second, "")))
        )
        wait_until(lambda: _available(core, "second") == [2])
    finally:
        poller.stop()
    assert _available(core, "first") == [1]


def test_unreadable_config_file_is_logged_and_skipped(tmp_path, caplog):
    config_file = tmp_path / "models.config"
    config_file.write_text("model_config_list { nonsense: 1 }")

    with caplog.at_level(logging.ERROR):
        assert not reload_config_file(_core(), str(config_file))

    assert "Failed to read ModelServerConfig file" in caplog.text
    assert (
        "Error parsing text-format tensorflow.serving.ModelServerConfig: 1:21"
        in caplog.text
    )


def test_num_load_threads_loads_versions_at_the_same_time(make_base_path):
    base_path = make_base_path(1, 2, 3)
    # Each load waits here for the others: only concurrent loads pass.
    all_loading = threading.Barrier(3, timeout=30)
    loaded_on = []

    def on_load(name, version, outcome):
        loaded_on.append(threading.current_thread().name)
        all_loading.wait()

    core = ServerCore(
        ModelManager(),
        LoadOptions(max_num_load_retries=0, num_load_threads=3),
        on_load=on_load,
    )

    core.reload_config(
        _config(("toy", base_path, "model_version_policy { all {} }"))
    )

    assert _available(core) == [1, 2, 3]
    assert all(name.startswith("load") for name in loaded_on)


def test_without_load_threads_versions_load_one_by_one(make_base_path):
    loaded_on = []
    core = ServerCore(
        ModelManager(),
        FAST,
        on_load=lambda *_: loaded_on.append(threading.current_thread()),
    )

    core.reload_config(
        _config(
            ("toy", make_base_path(1, 2), "model_version_policy { all {} }")
        )
    )

    assert _available(core) == [1, 2]
    assert loaded_on == [threading.current_thread()] * 2
