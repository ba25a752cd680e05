"""Training speed per dtype policy and with XLA, side by side, here.

Builds the same task once per configuration (float32, float32 under
XLA, mixed_bfloat16, mixed_float16), then trains each for the same
steps on the same in-memory batch, alternating rounds so that a busy
machine slows all alike, and prints samples/s and the ratio to float32,
beside what `precision="auto"` and `jit_compile="auto"` pick here. The
tasks: the demo's image + text + audio classifier, and a dual encoder of
the size of the training benchmark's reference (`bench_train.py`).

    .venv/bin/python scripts/bench_precision.py [--rounds 5 --steps 20]
"""

import argparse
import os
import statistics
import time

from mmkeras.quiet import import_tensorflow_quietly

import_tensorflow_quietly()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mmkeras.data.manifest import Record  # noqa: E402
from mmkeras.data.manifest import read_manifest  # noqa: E402
from mmkeras.data.pipeline import make_dataset  # noqa: E402
from mmkeras.data.synthetic import write_dataset  # noqa: E402
from mmkeras.models.presets import dual_encoder  # noqa: E402
from mmkeras.models.presets import multimodal_classifier  # noqa: E402
from mmkeras.preprocessing.vocabulary import learn_vocabulary  # noqa: E402
from mmkeras.training.compilation import choose_jit_compile  # noqa: E402
from mmkeras.training.precision import choose_precision  # noqa: E402

# (dtype policy, jit_compile) per configuration.
CONFIGURATIONS = {
    "float32": ("float32", False),
    "float32 + XLA": ("float32", True),
    "mixed_bfloat16": ("mixed_bfloat16", False),
    "mixed_float16": ("mixed_float16", False),
}
TASKS = ("classifier", "dual_encoder")
MODALITIES = ("audio", "image", "text")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workdir", default="artifacts/bench_precision")
    parser.add_argument(
        "--configurations",
        nargs="+",
        default=list(CONFIGURATIONS),
        choices=list(CONFIGURATIONS),
    )
    parser.add_argument("--tasks", nargs="+", default=TASKS, choices=TASKS)
    return parser.parse_args()


def demo_batch(workdir, batch_size):
    """Raw records of the demo data, and their vocabulary and labels."""
    manifest = os.path.join(workdir, "data", "manifest.jsonl")
    if not os.path.exists(manifest):
        write_dataset(os.path.dirname(manifest), 200, seed=0)
    records = read_manifest(manifest).split("train")
    vocabulary = learn_vocabulary(r["text"] for r in records if r.get("text"))
    class_names = sorted({r["label"] for r in records})
    return records[:batch_size], vocabulary, class_names


def classifier(policy, vocabulary, class_names):
    return multimodal_classifier(
        MODALITIES,
        class_names,
        vocabulary=vocabulary,
        clip_seconds=0.5,
        dtype=policy,
    )


def reference_dual_encoder(policy, vocabulary, class_names):
    del class_names
    return dual_encoder(
        ("image", "text"),
        vocabulary=vocabulary,
        hidden_dim=128,
        num_layers=2,
        num_heads=4,
        image_size=64,
        sequence_length=32,
        embedding_dim=128,
        dropout=0.0,
        dtype=policy,
    )


def first_batch(task, records):
    """One preprocessed batch of `records`, through the task's own
    preprocessor (as training reads it)."""
    field = task.preprocessor.label_field
    # The dual encoder's items: each record its own (the demo has no ids).
    records = [
        Record(r.line, {field: str(r.line), **r.fields}) for r in records
    ]
    dataset = make_dataset(
        records,
        task.preprocessor,
        len(records),
        modalities=task.preprocessor.modalities,
        target_fields=(task.preprocessor.label_field,),
        shuffle=False,
    )
    return next(iter(dataset))


def seconds_for(task, batch, steps):
    data = tf.data.Dataset.from_tensors(batch).repeat(steps)
    started = time.perf_counter()
    task.fit(data, epochs=1, verbose=0)
    return time.perf_counter() - started


def measure(build, records, vocabulary, class_names, args):
    """samples/s per configuration, one value per round."""
    tasks, batches = {}, {}
    for name in args.configurations:
        policy, jit_compile = CONFIGURATIONS[name]
        task = build(policy, vocabulary, class_names)
        task.compile(jit_compile=jit_compile)
        batches[name] = first_batch(task, records)
        seconds_for(task, batches[name], 3)  # traces (and compiles) the step
        tasks[name] = task
    rates = {name: [] for name in args.configurations}
    for _ in range(args.rounds):
        for name in args.configurations:
            seconds = seconds_for(tasks[name], batches[name], args.steps)
            rates[name].append(args.steps * len(records) / seconds)
    return rates


def print_table(name, rates):
    first = next(iter(rates))
    base = statistics.median(rates[first])
    print(f"{name}:")
    print(f"  configuration     samples/s   x {first:9s} IQR/median")
    for configuration, values in rates.items():
        median = statistics.median(values)
        q1, _, q3 = np.percentile(values, [25, 50, 75])
        print(
            f"  {configuration:16s} {median:10.1f} {median / base:10.2f}x "
            f"{(q3 - q1) / median:11.2f}"
        )


def main():
    args = parse_args()
    records, vocabulary, class_names = demo_batch(args.workdir, args.batch_size)
    choice = choose_precision("auto")
    print(f"precision=auto here: {choice.policy} ({choice.reason})")
    compiling = choose_jit_compile("auto")
    print(
        f"jit_compile=auto here: {'on' if compiling.jit_compile else 'off'} "
        f"({compiling.reason})"
    )
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    benchmarks = {
        "classifier": ("demo classifier (audio, image, text)", classifier),
        "dual_encoder": (
            "reference dual encoder (64x64 images, 32 tokens, width 128)",
            reference_dual_encoder,
        ),
    }
    for name, build in (benchmarks[task] for task in args.tasks):
        rates = measure(build, records, vocabulary, class_names, args)
        print_table(name, rates)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
