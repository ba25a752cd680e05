"""The exported signature and the serving client agree on names.

`serving` imports nothing from `mmkeras`, so this test is what ties them.
"""

from mmkeras.export import saved_model
from serving import client


def test_signature_name_is_the_clients_default():
    assert saved_model.SIGNATURE_NAME == client.DEFAULT_SIGNATURE


def test_serving_never_imports_mmkeras():
    import pathlib

    root = pathlib.Path(client.__file__).parent.parent  # all of serving/
    for path in root.rglob("*.py"):
        source = path.read_text()
        assert "import mmkeras" not in source, path
        assert "from mmkeras" not in source, path
