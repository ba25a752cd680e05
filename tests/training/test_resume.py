"""A training run killed mid-epoch resumes when its command is rerun.

`mmkeras train` runs in a subprocess beside an uninterrupted run of the
same command. Once the run has finished an epoch and backed up a step
of the next one, it is frozen (SIGSTOP), its files checked, and killed
with SIGKILL, as a preempted machine would be. Rerunning the same
command must resume from that backup: the history continues where it
stopped, the first run's rows are kept, the log says so, and the run
ends near the uninterrupted one.
"""

import csv
import json
import signal
import subprocess
import sys
import time

import pytest

from mmkeras.data import synthetic

pytestmark = pytest.mark.slow

EPOCHS = 3
# Text only, 5 steps of 8 per epoch (37 training captions), a backup
# after every 3 steps as well as at each epoch's end. Deterministic ops,
# so that both runs are the same until the kill.
TRAIN_FLAGS = [
    "--modalities=text",
    f"--epochs={EPOCHS}",
    "--batch-size=8",
    "--hidden-dim=8",
    "--learning-rate=0.03",
    "--backup-every=3",
    "--deterministic",
    "--verbose=2",
]
# How far the resumed run's final metrics may be from the uninterrupted
# run's. Keras reruns the interrupted epoch from the backed-up step's
# weights, so the resumed run trains up to one epoch's steps more (the
# training loss falls about 0.2 an epoch here), and sees its later
# epochs in another order; validation is five captions, so its loss is
# noisy and its accuracy moves in steps of 0.2. Measured: 0.08 (loss),
# 0.12 (val_loss), 0.2 (val_accuracy).
TOLERANCES = {"loss": 0.15, "val_loss": 0.2, "val_accuracy": 0.2 + 1e-6}
TIMEOUT = 300


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    # What `mmkeras make-demo-data D --examples 60` writes.
    return synthetic.write_dataset(
        tmp_path_factory.mktemp("demo"),
        num_examples=60,
        modalities=("audio", "image", "text"),
    )


@pytest.fixture
def start():
    """Starts a command with its output in a log; ends any it leaves."""
    started = []

    def start(command, log_path):
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _command(manifest, output_dir):
    return [
        sys.executable,
        "-m",
        "mmkeras.cli",
        "train",
        f"--manifest={manifest}",
        f"--output-dir={output_dir}",
        *TRAIN_FLAGS,
    ]


def _rows(output_dir):
    with open(output_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def _mid_epoch_state(output_dir):
    """The backup's epoch and step and the history's rows, when the run
    is inside an epoch after the first, past a step backup; else None."""
    try:
        with open(output_dir / "backup" / "training_metadata.json") as f:
            backup = json.load(f)
        rows = _rows(output_dir)
    except (OSError, ValueError):  # not written yet, or being written
        return None
    epoch, step = backup["epoch"], backup["batch"]
    if epoch >= 1 and step > 0 and len(rows) == epoch:
        return epoch, step, rows
    return None


def _kill_mid_epoch(process, output_dir):
    """SIGKILLs `process` inside an epoch; returns the state it left."""
    deadline = time.monotonic() + TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        if _mid_epoch_state(output_dir):
            # Frozen, its files cannot change between the check and the
            # kill.
            process.send_signal(signal.SIGSTOP)
            state = _mid_epoch_state(output_dir)
            if state:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return state
            process.send_signal(signal.SIGCONT)
        time.sleep(0.02)
    raise AssertionError("the run ended before a mid-epoch backup")


def _finished(process, log_path):
    process.wait(timeout=TIMEOUT)
    log = open(log_path).read()
    assert process.returncode == 0, log
    return log


def test_a_run_killed_mid_epoch_resumes_and_ends_like_an_uninterrupted_one(
    manifest, tmp_path, start
):
    started = time.monotonic()
    reference = start(
        _command(manifest, tmp_path / "reference"), tmp_path / "reference.log"
    )
    run_dir = tmp_path / "run"
    command = _command(manifest, run_dir)
    first = start(command, tmp_path / "first.log")
    epoch, step, rows_before = _kill_mid_epoch(first, run_dir)
    assert first.returncode == -signal.SIGKILL
    assert (run_dir / "backup").is_dir() and not (
        run_dir / "task.keras"
    ).exists()

    log = _finished(
        start(command, tmp_path / "second.log"), tmp_path / "second.log"
    )
    assert (
        f"Resumed from the backup in {run_dir}/backup at epoch {epoch + 1} "
        f"(weights of step {step + 1}; the epoch restarts)." in log
    )
    # It trained the interrupted epoch and the later ones, not the first.
    epochs_run = [
        line.split()[1]
        for line in log.splitlines()
        if line.startswith("Epoch ")
    ]
    assert epochs_run == [f"{e + 1}/{EPOCHS}" for e in range(epoch, EPOCHS)]
    rows = _rows(run_dir)
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    assert rows[:epoch] == rows_before  # the first run's rows, untouched
    assert (run_dir / "task.keras").exists() and (
        run_dir / "curves.png"
    ).exists()
    assert not (run_dir / "backup").exists()

    _finished(reference, tmp_path / "reference.log")
    expected = _rows(tmp_path / "reference")
    assert rows[:epoch] == expected[:epoch]  # deterministic until the kill
    final, expected_final = rows[-1], expected[-1]
    print(
        f"killed in epoch {epoch + 1} after step {step + 1}; final "
        f"resumed/uninterrupted: "
        + ", ".join(
            f"{k} {float(final[k]):.4f}/{float(expected_final[k]):.4f}"
            for k in ("loss", "val_loss", "val_accuracy")
        )
        + f"; {time.monotonic() - started:.0f} s"
    )
    for key, tolerance in TOLERANCES.items():
        assert float(final[key]) == pytest.approx(
            float(expected_final[key]), abs=tolerance
        ), key
    # Its first epoch began from the backed-up weights: a run that started
    # over would repeat the first epoch's loss (the data order of a new
    # process's first epoch is the same).
    assert float(rows[epoch]["loss"]) < float(expected[0]["loss"]) - 0.1
