"""Image-text retrieval on the scene demo data: train, then measure the
whole held-out gallery against chance, and draw five queries.

Run: `.venv/bin/python scripts/train_retrieval.py` (about 10 minutes on
2 cores). The data is generated into --data-dir if it is not there; the
model, metrics and query sheet go to --workdir.
"""

import argparse
import json
import os
import shutil
import time

from mmkeras.quiet import import_tensorflow_quietly

import_tensorflow_quietly()

from mmkeras.data import synthetic_scenes  # noqa: E402
from mmkeras.training import retrieval_report  # noqa: E402
from mmkeras.training.evaluation import evaluate  # noqa: E402
from mmkeras.training.retrieval import read_pairs  # noqa: E402
from mmkeras.training.trainer import TrainConfig  # noqa: E402
from mmkeras.training.trainer import train  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default="artifacts/retrieval_data")
    parser.add_argument("--workdir", default="artifacts/retrieval")
    parser.add_argument("--train-images", type=int, default=8000)
    parser.add_argument("--test-images", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--loss", default="clip", choices=["clip", "sigmoid"])
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--sequence-length", type=int, default=36)
    parser.add_argument("--validate", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    started = time.monotonic()
    manifest = os.path.join(args.data_dir, "manifest.jsonl")
    if not os.path.exists(manifest):
        synthetic_scenes.write_retrieval_dataset(
            args.data_dir,
            num_train_images=args.train_images,
            num_validation_images=args.test_images,
            num_test_images=args.test_images,
            seed=args.seed,
        )
    test = read_pairs(manifest).split("test")
    neighbours = synthetic_scenes.gallery_neighbours(test)
    print(
        f"Held-out gallery: {neighbours['images']} images, "
        f"{len(test)} captions; each image differs from "
        f"{neighbours['mean']:.1f} others (min {neighbours['min']}) in one "
        "attribute only."
    )
    shutil.rmtree(args.workdir, ignore_errors=True)
    config = TrainConfig(
        manifest=manifest,
        output_dir=os.path.join(args.workdir, "run"),
        task="retrieve",
        image_size=synthetic_scenes.DEFAULT_IMAGE_SIZE,
        sequence_length=args.sequence_length,
        hidden_dim=args.hidden_dim,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        embedding_dim=args.embedding_dim,
        loss=args.loss,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        validate=args.validate,
        seed=args.seed,
        verbose=2,
    )
    train_started = time.monotonic()
    result = train(config)
    train_seconds = time.monotonic() - train_started
    metrics = evaluate(result.task, test)
    chance = retrieval_report.chance_of(
        test, result.task.preprocessor.label_field
    )
    print(f"\nTest split, full gallery ({metrics['gallery_items']} images):")
    for line in retrieval_report.metric_lines(metrics, chance):
        print(line)
    print("Goals:")
    for line in retrieval_report.goal_lines(metrics):
        print(line)
    images, labels, class_names = synthetic_scenes.zero_shot_examples(
        seed=args.seed
    )
    print(
        f"Zero-shot classification: {len(images)} one-object scenes, "
        f"{len(class_names)} classes (colour and shape):"
    )
    for line in retrieval_report.zero_shot_lines(
        result.task,
        images,
        labels,
        class_names,
        synthetic_scenes.ZERO_SHOT_TEMPLATES,
    ):
        print(line)
    sheet = os.path.join(args.workdir, "queries.png")
    retrieval_report.query_sheet(result.task, test, sheet, seed=args.seed)
    with open(os.path.join(args.workdir, "metrics.json"), "w") as f:
        json.dump({"test": metrics, "chance": chance}, f, indent=2)
    print(f"Query sheet: {sheet}")
    print(
        f"Training took {train_seconds / 60:.1f} min; the whole run "
        f"{(time.monotonic() - started) / 60:.1f} min."
    )


if __name__ == "__main__":
    main()
