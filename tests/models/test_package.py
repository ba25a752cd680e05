"""`import mmkeras.models` is all a user needs to load any saved task."""

import importlib
import pkgutil
import subprocess
import sys

import mmkeras.models
from mmkeras.models import Task


def _task_classes():
    """Every `Task` subclass defined in a module of `mmkeras.models`."""
    classes = set()
    for module_info in pkgutil.iter_modules(mmkeras.models.__path__):
        module = importlib.import_module(f"mmkeras.models.{module_info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Task)
                and value is not Task
                and value.__module__ == module.__name__
            ):
                classes.add(value)
    return classes


def test_every_task_is_exported_and_registered_by_the_package():
    classes = _task_classes()
    assert {c.__name__ for c in classes} >= {
        "DualEncoder",
        "MultimodalClassifier",
        "SpeechRecognizer",
        "VideoSummarizer",
    }
    for task_class in classes:
        assert getattr(mmkeras.models, task_class.__name__) is task_class
    # A fresh interpreter that imports only the package can deserialize
    # each task: `keras.saving.load_model` finds its class by this name.
    names = sorted(f"mmkeras>{c.__name__}" for c in classes)
    check = (
        "import keras, mmkeras.models; "
        f"missing = [n for n in {names!r} "
        "if keras.saving.get_registered_object(n) is None]; "
        "print(missing)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
