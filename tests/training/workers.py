"""Running `train_worker.py` processes, alone or as a cluster of workers
on loopback ports, for the multi-worker tests."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
WORKER_SCRIPT = os.path.join(os.path.dirname(__file__), "train_worker.py")
# Two TensorFlow processes on two shared cores take about a minute.
WORKER_TIMEOUT = 420


def tf_config(workers, index, task_type="worker", chief=()):
    """TF_CONFIG's JSON for task `index` of `task_type`."""
    cluster = {"worker": list(workers)}
    if chief:
        cluster["chief"] = list(chief)
    return json.dumps(
        {"cluster": cluster, "task": {"type": task_type, "index": index}}
    )


def free_ports(count):
    """Ports free on loopback a moment ago."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("localhost", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


def environment(cluster=None, tmpdir=None):
    """A worker's environment: `cluster` (a `tf_config`) as TF_CONFIG,
    or none; temporary files in `tmpdir`, to see what is left there."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["PYTHONPATH"] = REPOSITORY
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if cluster:
        env["TF_CONFIG"] = cluster
    if tmpdir:
        os.makedirs(tmpdir, exist_ok=True)
        env["TMPDIR"] = str(tmpdir)
    return env


def run_workers(runs, timeout=WORKER_TIMEOUT):
    """Runs `train_worker.py` once per (config, result path, env), all at
    once, and returns each one's `load_result`. Kills every process if
    one fails or time runs out, and fails with the failed one's log."""
    processes = []
    try:
        for config, result, env in runs:
            log = open(f"{result}.log", "w")  # closed below
            processes.append(
                (
                    subprocess.Popen(
                        [
                            sys.executable,
                            WORKER_SCRIPT,
                            json.dumps(config),
                            str(result),
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                    ),
                    log,
                )
            )
        deadline = time.monotonic() + timeout
        while any(p.poll() is None for p, _ in processes):
            failed = [p for p, _ in processes if p.poll() not in (None, 0)]
            if failed or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        for process, log in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            log.close()
    for (_, result, _), (process, _) in zip(runs, processes, strict=True):
        with open(f"{result}.log") as log:
            tail = log.read()[-3000:]
        assert process.returncode == 0, tail
    return [load_result(result) for _, result, _ in runs]


def load_result(path):
    """(history, optimizer steps, weights) that `train_worker.py` saved."""
    with np.load(path) as saved:
        weights = [saved[f"w{i}"] for i in range(len(saved.files) - 2)]
        return json.loads(str(saved["history"])), int(saved["steps"]), weights
