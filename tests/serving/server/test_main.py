"""The server command line, run as a real subprocess."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _run_server(*argv):
    return subprocess.run(
        [sys.executable, "-m", "serving.server.main", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_unknown_flag_exits_with_code_2():
    result = _run_server("--model_base_path=/m", "--bogus=1")

    assert result.returncode == 2
    assert "unrecognized arguments: --bogus=1" in result.stderr


def test_base_path_without_versions_exits_with_code_1_naming_it(tmp_path):
    # Only an unfinished export: nothing to serve yet. (A missing base path
    # is covered through ModelServerProcess in tests/serving/test_process.py.)
    (tmp_path / ".tmp-1").mkdir()

    result = _run_server("--port=0", f"--model_base_path={tmp_path}")

    assert result.returncode == 1
    assert f"found under base path '{tmp_path}'" in result.stderr
