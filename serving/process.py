"""Running the model server as a subprocess, for demos and end-to-end tests.

`ModelServerProcess` starts `python -m serving.server.main`, learns the
port from the server's "Running gRPC ModelServer at HOST:PORT ..." line
(so that port 0 works without racing other processes for a free port),
and only returns once GetModelStatus reports the model AVAILABLE.
"""

import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time

import grpc

import serving
from serving import client

LOOPBACK_HOST = "127.0.0.1"
OUTPUT_TAIL_LINES = 50
# Matches serving.server.main.READY_MESSAGE (and tensorflow_model_server's).
_READY_LINE = re.compile(r"Running gRPC ModelServer at \S+:(\d+) \.\.\.")
_POLL_SECONDS = 0.1


class ModelServerProcess:
    """A model server subprocess, ready to answer once started.

    Args:
        model_name: str. Passed as --model_name.
        model_base_path: str | None. Passed as --model_base_path; None when
            `extra_flags` name a --model_config_file instead.
        port: int | None. gRPC port; None or 0 lets the server pick one.
        extra_flags: Sequence[str]. More server flags, e.g. ("--x=1",).
        startup_timeout: float. Seconds to wait for the model to be
            AVAILABLE before giving up.
        stop_timeout: float. Seconds to wait after SIGTERM before SIGKILL.

    Attributes:
        address: str. "127.0.0.1:PORT", set once started.
        process: subprocess.Popen | None. The running server.

    Example:

    ```python
    with ModelServerProcess("toy", "/models/toy") as server:
        with PredictionClient(server.address) as prediction_client:
            prediction_client.status("toy")
    ```
    """

    def __init__(
        self,
        model_name,
        model_base_path,
        port=None,
        extra_flags=(),
        startup_timeout=60.0,
        stop_timeout=10.0,
    ):
        self.model_name = model_name
        self.model_base_path = (
            None if model_base_path is None else str(model_base_path)
        )
        self.port = port or 0
        self.extra_flags = tuple(extra_flags)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.address = None
        self.process = None
        self._output_tail = collections.deque(maxlen=OUTPUT_TAIL_LINES)
        self._port_found = threading.Event()
        self._reader = None

    def start(self):
        """Starts the server and waits until the model is AVAILABLE.

        Raises:
            RuntimeError: if the server exits or is not ready in time; the
                message ends with the tail of the server's output.
        """
        if self.process is not None:
            raise RuntimeError("The model server process is already started.")
        self.process = subprocess.Popen(
            self._command(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            encoding="utf-8",
            errors="replace",
            env=self._environment(),
        )
        self._reader = threading.Thread(
            target=self._read_output, name="model-server-output", daemon=True
        )
        self._reader.start()
        try:
            self._wait_until_available()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Sends SIGTERM, waits for exit, and kills the server if it hangs.

        Returns:
            int | None: the exit code, or None if never started.
        """
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._reader is not None:
            self._reader.join(timeout=self.stop_timeout)
        return self.process.returncode

    @property
    def output_tail(self):
        """The last lines the server wrote (stdout and stderr merged)."""
        return "".join(self._output_tail)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def _command(self):
        command = [
            sys.executable,
            "-m",
            "serving.server.main",
            f"--port={self.port}",
            f"--model_name={self.model_name}",
        ]
        if self.model_base_path is not None:
            command.append(f"--model_base_path={self.model_base_path}")
        return command + list(self.extra_flags)

    def _environment(self):
        # The child must import this same `serving` package, installed or not.
        project_root = os.path.dirname(os.path.dirname(serving.__file__))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [project_root, env.get("PYTHONPATH")])
        )
        return env

    def _read_output(self):
        for line in self.process.stdout:
            self._output_tail.append(line)
            match = _READY_LINE.search(line)
            if match and not self._port_found.is_set():
                self.address = f"{LOOPBACK_HOST}:{match.group(1)}"
                self._port_found.set()
        self.process.stdout.close()

    def _wait_until_available(self):
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._reader.join(timeout=self.stop_timeout)
                self._fail(
                    f"exited with code {self.process.returncode} before "
                    "becoming ready"
                )
            if self._port_found.is_set() and self._model_available():
                return
            time.sleep(_POLL_SECONDS)
        self._fail(
            f"did not report model {self.model_name!r} AVAILABLE within "
            f"{self.startup_timeout:g} s"
        )

    def _model_available(self):
        with client.PredictionClient(self.address, timeout=1.0) as probe:
            try:
                states = probe.status(self.model_name)
            except grpc.RpcError:
                return False
        return any(state["state"] == "AVAILABLE" for state in states)

    def _fail(self, what_happened):
        raise RuntimeError(
            f"Model server for {self.model_name!r} at "
            f"{self.model_base_path!r} {what_happened}. Last output:\n"
            f"{self.output_tail}"
        )
