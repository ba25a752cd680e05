import os

from mmkeras.quiet import import_tensorflow_quietly

# TensorFlow's C++ errors stay visible in test output; its informational
# lines do not.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Its start-up lines (oneDNN, CUDA probes) go to file descriptor 2
# whatever that level says; under pytest-xdist each worker would print
# them into the run's output.
import_tensorflow_quietly()
