"""Training speed per dtype policy, side by side, on this machine.

Builds the same task once per policy (float32, mixed_bfloat16 and
mixed_float16), then trains each for the same steps on the same
in-memory batch, alternating rounds so that a busy machine slows all
alike, and prints samples/s and the ratio to float32, beside what
`precision="auto"` picks here. The tasks: the demo's image + text +
audio classifier, and a dual encoder of the size of the training
benchmark's reference (`bench_train.py`).

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
from mmkeras.training.precision import choose_precision  # noqa: E402

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
MODALITIES = ("audio", "image", "text")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workdir", default="artifacts/bench_precision")
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
    """samples/s per policy: median and the spread of the rounds."""
    tasks, batches = {}, {}
    for policy in POLICIES:
        task = build(policy, vocabulary, class_names)
        task.compile()
        batches[policy] = first_batch(task, records)
        seconds_for(task, batches[policy], 3)  # traces the step
        tasks[policy] = task
    rates = {policy: [] for policy in POLICIES}
    for _ in range(args.rounds):
        for policy in POLICIES:
            seconds = seconds_for(tasks[policy], batches[policy], args.steps)
            rates[policy].append(args.steps * len(records) / seconds)
    return rates


def print_table(name, rates):
    base = statistics.median(rates["float32"])
    print(f"{name}:")
    print("  policy            samples/s   x float32   IQR/median")
    for policy, values in rates.items():
        median = statistics.median(values)
        q1, _, q3 = np.percentile(values, [25, 50, 75])
        print(
            f"  {policy:16s} {median:10.1f} {median / base:10.2f}x "
            f"{(q3 - q1) / median:11.2f}"
        )


def main():
    args = parse_args()
    records, vocabulary, class_names = demo_batch(args.workdir, args.batch_size)
    choice = choose_precision("auto")
    print(f"precision=auto here: {choice.policy} ({choice.reason})")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    for name, build in (
        ("demo classifier (audio, image, text)", classifier),
        (
            "reference dual encoder (64x64 images, 32 tokens, width 128)",
            reference_dual_encoder,
        ),
    ):
        rates = measure(build, records, vocabulary, class_names, args)
        print_table(name, rates)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
