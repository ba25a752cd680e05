"""Generating the op list of each TF Serving release `check-export` knows.

A TF Serving model server runs the TensorFlow ops of the TensorFlow it is
built on plus the ops of the TF Text it links (`@org_tensorflow_text//
tensorflow_text:ops_lib` in tensorflow_serving/model_servers/BUILD), and
the TF Text version is pinned separately, in tensorflow_serving/
workspace.bzl: 2.16 to 2.19 link TF Text 2.12.1, 2.20 links 2.20.0, and
2.21 builds from the same pin (2.20.0). Each release's TensorFlow and TF
Text wheels are installed from PyPI into their own virtualenvs, and
TensorFlow's registry is asked for every registered op
(`TF_GetAllOpList`), before and after `import tensorflow_text`.

TF Text's ops are read in the TensorFlow it was built for (TF Text 2.12.1
loads only in TensorFlow 2.12), so a release may need two virtualenvs.
Each wheel set is about 600 MB; virtualenvs are kept in a cache directory
and reused. A release's TensorFlow that is the one running this code is
read from this interpreter instead. `scripts/generate_op_lists.py` runs
it.
"""

import json
import os
import subprocess
import sys
import venv

from mmkeras.export.op_check import OPS_DIR

# TF Serving release -> (TensorFlow it builds on, TF Text it links).
RELEASES = {
    "2.19": ("2.19.1", "2.12.1"),
    "2.20": ("2.20.0", "2.20.0"),
    "2.21": ("2.21.0", "2.20.0"),
}
# TF Text x.y loads only in TensorFlow x.y.
TEXT_TENSORFLOW = {"2.12.1": "2.12.1", "2.20.0": "2.20.0"}

# Run in a release's virtualenv: every registered op, before and after
# TF Text registers its own.
_PROBE = """
import json, sys
import tensorflow as tf
from tensorflow.core.framework import op_def_pb2
from tensorflow.python.client import pywrap_tf_session as c_api

def registered():
    ops = op_def_pb2.OpList()
    ops.ParseFromString(c_api.TF_GetBuffer(c_api.TF_GetAllOpList()))
    return {op.name for op in ops.op}

core = registered()
result = {"tensorflow_version": tf.__version__, "tensorflow_ops": sorted(core)}
if sys.argv[1] == "text":
    import tensorflow_text
    result["tensorflow_text_version"] = tensorflow_text.__version__
    result["tensorflow_text_ops"] = sorted(registered() - core)
print(json.dumps(result))
"""


def probe(python, with_text):
    """The probe's result in the interpreter `python`."""
    completed = subprocess.run(
        [python, "-c", _PROBE, "text" if with_text else "core"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def environment(cache_dir, tensorflow, text=None):
    """A virtualenv's python with these exact wheels, made on first use."""
    name = f"tf-{tensorflow}" + (f"-text-{text}" if text else "")
    directory = os.path.join(cache_dir, name)
    python = os.path.join(directory, "bin", "python")
    if not os.path.exists(python):
        venv.create(directory, with_pip=True)
        packages = [f"tensorflow=={tensorflow}"]
        if text:
            packages.append(f"tensorflow-text=={text}")
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", *packages], check=True
        )
    return python


def _running_tensorflow():
    try:
        from importlib.metadata import version

        return version("tensorflow")
    except Exception:  # noqa: BLE001 - no TensorFlow here: use a venv
        return None


def release_op_list(release, cache_dir):
    """The op list document of one TF Serving release."""
    tensorflow, text = RELEASES[release]
    if _running_tensorflow() == tensorflow:
        core = probe(sys.executable, with_text=False)
    else:
        core = probe(environment(cache_dir, tensorflow), with_text=False)
    text_env = environment(cache_dir, TEXT_TENSORFLOW[text], text)
    text_ops = probe(text_env, with_text=True)
    if core["tensorflow_version"] != tensorflow:
        raise RuntimeError(
            f"Expected TensorFlow {tensorflow}, found "
            f"{core['tensorflow_version']}."
        )
    if text_ops["tensorflow_text_version"] != text:
        raise RuntimeError(
            f"Expected TF Text {text}, found "
            f"{text_ops['tensorflow_text_version']}."
        )
    return {
        "tf_serving": release,
        "tensorflow": tensorflow,
        "tensorflow_text": text,
        "source": (
            f"scripts/generate_op_lists.py: the ops registered by "
            f"tensorflow=={tensorflow}, and those tensorflow-text=={text} "
            f"adds (read in tensorflow=={TEXT_TENSORFLOW[text]})"
        ),
        "tensorflow_ops": core["tensorflow_ops"],
        "tensorflow_text_ops": text_ops["tensorflow_text_ops"],
    }


def write_op_lists(releases, cache_dir, output_dir=OPS_DIR):
    """Writes `tf_serving_<release>.json` for each release; prints each."""
    os.makedirs(cache_dir, exist_ok=True)
    for release in releases:
        document = release_op_list(release, cache_dir)
        path = os.path.join(output_dir, f"tf_serving_{release}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=1)
            f.write("\n")
        print(
            f"{path}: {len(document['tensorflow_ops'])} TensorFlow ops, "
            f"{len(document['tensorflow_text_ops'])} TF Text ops"
        )
