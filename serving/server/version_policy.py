"""Which versions on disk a model should serve: its ServableVersionPolicy.

The policy is ModelConfig.model_version_policy, TensorFlow Serving's
FileSystemStoragePathSourceConfig.ServableVersionPolicy:

- `latest { num_versions: N }` (the default, N=1): the N highest versions;
- `all {}`: every version;
- `specific { versions: ... }`: the listed versions that exist on disk.
"""


def aspired_versions(policy, versions_on_disk):
    """Returns the set of versions the policy asks to serve.

    Args:
        policy: FileSystemStoragePathSourceConfig.ServableVersionPolicy.
        versions_on_disk: Iterable[int]. Versions found under the base path.
    """
    available = sorted(versions_on_disk)
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return set(available)
    if choice == "specific":
        return set(policy.specific.versions) & set(available)
    # An unset policy, or latest without num_versions, means latest 1.
    num_versions = max(policy.latest.num_versions, 1)
    return set(available[-num_versions:])
