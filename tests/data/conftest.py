"""Fixtures shared by the data tests."""

import pytest

from tests.data.media_files import write_media_dir


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory):
    """A read-only folder of tiny media files; see `write_media_dir`."""
    return write_media_dir(tmp_path_factory.mktemp("media"))
