import grpc
import pytest
from tensorflow_serving.apis import model_pb2

from serving.server import errors
from serving.server import loader
from serving.server import manager as states
from serving.server.manager import ModelManager


@pytest.fixture(scope="module")
def two_version_manager(model_name, model_base_path):
    manager = ModelManager()
    for version in (2, 1):
        manager.add(
            loader.load_servable(model_name, str(model_base_path), version)
        )
    return manager


def _spec(name, version=None):
    spec = model_pb2.ModelSpec(name=name)
    if version is not None:
        spec.version.value = version
    return spec


def test_versions_are_sorted(two_version_manager, model_name):
    versions = two_version_manager.versions(model_name)

    assert [servable.version for servable in versions] == [1, 2]


def test_no_version_resolves_to_the_highest(two_version_manager, model_name):
    assert two_version_manager.resolve(_spec(model_name)).version == 2


def test_specific_version_resolves(two_version_manager, model_name):
    assert two_version_manager.resolve(_spec(model_name, 1)).version == 1


def test_unknown_version_is_not_found(two_version_manager, model_name):
    with pytest.raises(errors.ServingError) as raised:
        two_version_manager.resolve(_spec(model_name, 3))

    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    assert raised.value.message == (
        f"Servable not found for request: Specific({model_name}, 3)"
    )


def test_life_cycle_states_are_reported_highest_version_first(
    model_name, model_base_path
):
    manager = ModelManager()
    manager.set_state(model_name, 3, states.START)
    manager.set_state(model_name, 3, states.LOADING)
    manager.add(loader.load_servable(model_name, str(model_base_path), 1))
    manager.fail(model_name, 2, grpc.StatusCode.NOT_FOUND, "gone")

    statuses = manager.version_statuses(model_name)

    assert [(s.version, s.state) for s in statuses] == [
        (3, states.LOADING),
        (2, states.END),
        (1, states.AVAILABLE),
    ]
    assert (statuses[1].error_code, statuses[1].error_message) == (
        grpc.StatusCode.NOT_FOUND,
        "gone",
    )
    assert [s.version for s in manager.versions(model_name)] == [1]


def test_unloaded_version_stops_resolving_but_stays_in_status(
    two_version_manager, model_name
):
    servable = two_version_manager.resolve(_spec(model_name, 1))
    manager = ModelManager()
    manager.add(servable)

    manager.unload(model_name, 1)

    assert manager.versions(model_name) == []
    [status] = manager.version_statuses(model_name)
    assert status.state == states.END
    assert status.error_code == grpc.StatusCode.OK
    with pytest.raises(errors.ServingError):
        manager.resolve(_spec(model_name, 1))


def test_set_state_refuses_states_with_their_own_method():
    with pytest.raises(ValueError, match="got AVAILABLE"):
        ModelManager().set_state("m", 1, states.AVAILABLE)


def test_version_label_resolves_to_its_version(two_version_manager, model_name):
    two_version_manager.set_labels(model_name, {"stable": 1})
    spec = model_pb2.ModelSpec(name=model_name, version_label="stable")

    assert two_version_manager.resolve(spec).version == 1
