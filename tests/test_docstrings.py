"""Every docstring example in the package runs as written.

As keras-hub runs its docstrings: an example is documentation only if it
works. Examples see numpy, TensorFlow, Keras and mmkeras's public layers,
encoders, preprocessing and models, and nothing they do not define
themselves, so an undefined name fails here.
"""

import doctest
import importlib
import pkgutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import mmkeras

PUBLIC_PACKAGES = (
    "mmkeras.layers",
    "mmkeras.encoders",
    "mmkeras.preprocessing",
    "mmkeras.models",
)


def _modules():
    names = []
    for info in pkgutil.walk_packages(mmkeras.__path__, "mmkeras."):
        if info.name != "mmkeras.cli":
            names.append(info.name)
    return sorted(names)


def _namespace():
    namespace = {"np": np, "tf": tf, "keras": keras}
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        namespace.update({n: getattr(module, n) for n in module.__all__})
    return namespace


def _examples(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [t for t in finder.find(module) if t.examples]


def test_the_package_has_docstring_examples():
    assert sum(len(_examples(name)) for name in _modules()) >= 20


@pytest.mark.parametrize("module_name", _modules())
def test_docstring_examples_run(module_name):
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    for test in _examples(module_name):
        test.globs = {**_namespace(), **test.globs}
        runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, f"{failed} of {attempted} examples failed"
