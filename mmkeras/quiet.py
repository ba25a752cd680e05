"""Keeping TensorFlow's start-up noise out of a command's output."""

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def native_stderr_captured():
    """Captures what native code writes to stderr; replays it on error.

    TensorFlow's C++ runtime prints start-up lines (oneDNN, CUDA probes,
    CPU features) straight to file descriptor 2, before its own log level
    applies, so only redirecting the descriptor silences them.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow_quietly():
    """Imports TensorFlow, Keras and TF Text without their start-up lines.

    Later C++ log lines below FATAL are silenced too, unless the user set
    TF_CPP_MIN_LOG_LEVEL themselves.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_stderr_captured():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
        import tensorflow_text  # noqa: F401
