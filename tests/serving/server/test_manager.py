import grpc
import pytest
from tensorflow_serving.apis import model_pb2

from serving.server import errors
from serving.server import loader
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
