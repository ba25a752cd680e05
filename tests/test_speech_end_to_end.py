"""Speech through the `mmkeras` command, on tone speech: make-demo-data ->
train -> evaluate -> transcribe -> export -> mmkeras-model-server ->
transcribe and evaluate over gRPC (real loopback)."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.training import load_task
from mmkeras.training import speech
from serving.client import PredictionClient
from serving.process import ModelServerProcess

pytestmark = pytest.mark.slow

TRAIN_FLAGS = (
    "--task=speech",
    "--hidden-dim=32",
    "--num-heads=2",
    "--clip-seconds=1.5",
    "--batch-size=16",
    "--learning-rate=3e-3",
    "--epochs=5",
    "--verbose=0",
    # float32 whatever precision=auto picks here: these tests compare the
    # served and device models with the local one to float32 rounding
    # (tests/test_end_to_end.py checks a bfloat16 task's served outputs).
    "--precision=float32",
)


def _run(capsys, *args):
    """`mmkeras ...` in this process (no start-up cost): its stdout."""
    from mmkeras.cli import main

    main([str(a) for a in args])
    return capsys.readouterr().out


def _printed_metrics(stdout):
    return {
        name: float(value)
        for name, value in re.findall(r"^\s+(\w+): ([\d.]+)$", stdout, re.M)
    }


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="module")
def manifest(workdir):
    from mmkeras.cli import main

    main(
        [
            "make-demo-data",
            str(workdir / "data"),
            "--task=speech",
            "--speech-engine=tones",
            "--examples=10",
        ]
    )
    return workdir / "data" / "manifest.jsonl"


@pytest.fixture(scope="module")
def trained(workdir, manifest):
    from mmkeras.cli import main

    main(
        [
            "train",
            f"--manifest={manifest}",
            f"--output-dir={workdir / 'run'}",
            *TRAIN_FLAGS,
        ]
    )
    return workdir / "run"


@pytest.fixture(scope="module")
def task(trained):
    return load_task(str(trained))


@pytest.fixture(scope="module")
def evaluated(trained, manifest):
    """`mmkeras evaluate`'s stdout on the test split (local model)."""
    import contextlib
    import io

    from mmkeras.cli import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main(["evaluate", f"--model={trained}", f"--manifest={manifest}"])
    return printed.getvalue()


def test_a_tiny_training_beats_blank_output_by_a_wide_margin(
    trained, evaluated
):
    printed = evaluated
    metrics = _printed_metrics(printed)
    assert metrics["examples"] == 30
    # A blank-only output scores CER 1 and WER 1.
    assert metrics["cer"] < 0.5, printed
    # The LM weight was chosen on validation (0 among the choices).
    assert metrics["cer_lm"] <= metrics["cer"] + 0.05, printed
    history = (trained / "history.csv").read_text().splitlines()
    assert history[0].split(",") == [
        "epoch",
        "loss",
        "val_cer",
        "val_loss",
        "val_wer",
    ]
    assert (trained / "best.keras").is_file()
    assert (trained / "vocabulary.txt").read_text().startswith(" \n")


def test_transcribe_prints_text_and_word_times(trained, manifest, task, capsys):
    record = speech.read_speech_manifest(str(manifest)).split("test")[0]
    printed = _run(
        capsys, "transcribe", f"--model={trained}", record["audio"]
    ).splitlines()
    with open(record["audio"], "rb") as f:
        expected = task.predict_raw({"audio": tf.constant([f.read()])})
    text = expected["transcripts"][0].numpy().decode()
    assert printed[0] == f"{record['audio']}: {text}"
    count = int(expected["word_counts"][0])
    assert len(printed) == 1 + count
    for line, start in zip(
        printed[1:], expected["word_start_times"][0][:count], strict=True
    ):
        assert float(line.split()[0]) == pytest.approx(float(start), abs=0.01)


@pytest.fixture(scope="module")
def served(trained, workdir):
    from mmkeras.cli import main

    main(
        [
            "export",
            f"--training-dir={trained}",
            f"--base-path={workdir / 'models'}",
            "--model-name=speech",
            "--warmup-examples=2",
        ]
    )
    with ModelServerProcess("speech", workdir / "models" / "speech") as server:
        yield server


def test_served_transcripts_equal_the_task(
    trained, manifest, served, task, evaluated, capsys
):
    records = speech.read_speech_manifest(str(manifest)).split("test")[:3]
    clips = []
    for record in records:
        with open(record["audio"], "rb") as f:
            clips.append(f.read())
    audio = np.empty(len(clips), object)
    audio[:] = clips
    with PredictionClient(served.address) as client:
        outputs = client.predict("speech", {"audio": audio})
    expected = task.predict_raw({"audio": tf.constant(clips)})
    for key in ("transcripts", "token_ids", "token_counts", "words"):
        np.testing.assert_array_equal(outputs[key], expected[key].numpy())
    for key in ("word_start_times", "word_end_times", "log_probs"):
        np.testing.assert_allclose(
            outputs[key], expected[key].numpy(), atol=1e-4
        )
    assert outputs["log_probs"].dtype == np.float32
    printed = _run(
        capsys,
        "transcribe",
        f"--server={served.address}",
        "--model-name=speech",
        records[0]["audio"],
    )
    assert printed.splitlines()[0] == (
        f"{records[0]['audio']}: {expected['transcripts'][0].numpy().decode()}"
    )
    local = _printed_metrics(
        _run(capsys, "evaluate", f"--model={trained}", f"--manifest={manifest}")
    )
    remote = _printed_metrics(
        _run(
            capsys,
            "evaluate",
            f"--model={trained}",
            f"--manifest={manifest}",
            f"--server={served.address}",
            "--model-name=speech",
        )
    )
    # Greedy decoding runs in the graph: the same transcripts. Beam search
    # runs here on the served log-probabilities, equal to ~1e-6.
    assert (remote["cer"], remote["wer"]) == (local["cer"], local["wer"])
    assert remote["cer_lm"] == pytest.approx(local["cer_lm"], abs=0.02)


def test_tflite_export_decodes_on_device_with_a_parity_report(
    trained, workdir, task, manifest, capsys
):
    from mmkeras.export import tflite

    path = workdir / "speech.tflite"
    printed = _run(
        capsys,
        "export",
        f"--training-dir={trained}",
        "--format=tflite",
        f"--output={path}",
    ).splitlines()
    assert printed[0] == f"Exported TFLite (none) to {path}"
    assert printed[1].startswith("TFLite parity on 30 held-out examples")
    variants = [line.split()[0] for line in printed[3:6]]
    assert variants == ["none", "float16", "dynamic"]  # int8 is refused
    report = json.loads((workdir / "speech.parity.json").read_text())
    # The device model decodes greedily as the Keras model does.
    none = report["variants"]["none"]
    assert none["metrics"]["cer"] == pytest.approx(
        report["keras"]["metrics"]["cer"], abs=1e-3
    )
    assert none["max_abs_diff"]["log_probs"] < 1e-3
    record = speech.read_speech_manifest(str(manifest)).split("test")[0]
    with open(record["audio"], "rb") as f:
        raw = {"audio": tf.constant([f.read()])}
    interpreter = tflite.load_interpreter(model_path=str(path))
    outputs = tflite.run_signature(interpreter, task.device_inputs(raw))
    np.testing.assert_array_equal(
        outputs["token_ids"], task.predict_raw(raw)["token_ids"].numpy()
    )
