import pytest
from google.protobuf import text_format
from tensorflow_serving.config import file_system_storage_path_source_pb2

from serving.server.version_policy import aspired_versions

Policy = (
    file_system_storage_path_source_pb2.FileSystemStoragePathSourceConfig
).ServableVersionPolicy


@pytest.mark.parametrize(
    "policy_text, expected",
    [
        ("", {5}),
        ("latest {}", {5}),
        ("latest { num_versions: 2 }", {3, 5}),
        ("latest { num_versions: 9 }", {1, 3, 5}),
        ("all {}", {1, 3, 5}),
        ("specific { versions: 3 versions: 4 }", {3}),
    ],
)
def test_policies_choose_among_versions_on_disk(policy_text, expected):
    policy = text_format.Parse(policy_text, Policy())

    assert aspired_versions(policy, [3, 1, 5]) == expected


def test_no_versions_on_disk_aspire_nothing():
    assert aspired_versions(Policy(), []) == set()
