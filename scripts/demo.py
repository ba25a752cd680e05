"""The main job: files -> training -> SavedModel -> gRPC server -> accuracy.

Run with `make demo`. Everything is generated here (no downloads); the
artifacts stay in --workdir for inspection.
"""

import argparse
import logging
import os
import shutil
import time

import numpy as np

from mmkeras.data.manifest import read_manifest
from mmkeras.data.synthetic import write_dataset
from mmkeras.export.saved_model import export_classifier
from mmkeras.remote import predict_records
from mmkeras.training.trainer import TrainConfig
from mmkeras.training.trainer import train
from serving.client import PredictionClient
from serving.process import ModelServerProcess

MODEL_NAME = "mmkeras_demo"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", default="artifacts/demo")
    parser.add_argument("--examples", type=int, default=1800)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def step(message):
    print(f"\n== {message}", flush=True)


def main():
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    # The demo's working directory is its own: start from a clean slate.
    shutil.rmtree(args.workdir, ignore_errors=True)
    data_dir = os.path.join(args.workdir, "data")
    training_dir = os.path.join(args.workdir, "training")
    base_path = os.path.join(args.workdir, "models")

    step("1/4 Writing the synthetic image-caption dataset")
    manifest_path = write_dataset(data_dir, args.examples, seed=args.seed)
    test_records = read_manifest(manifest_path).split("test")
    print(f"{args.examples} examples, manifest {manifest_path}")

    step("2/4 Training (image encoder + text encoder + AttentionFusion)")
    result = train(
        TrainConfig(
            manifest=manifest_path,
            output_dir=training_dir,
            epochs=args.epochs,
            seed=args.seed,
        )
    )

    step("3/4 Exporting a SavedModel in TF Serving's layout")
    export_path = export_classifier(
        result.classifier, result.preprocessor, base_path, MODEL_NAME
    )
    print(f"SavedModel: {export_path}")

    step(f"4/4 Serving it and sending {len(test_records)} held-out examples")
    model_base_path = os.path.join(base_path, MODEL_NAME)
    with ModelServerProcess(MODEL_NAME, model_base_path) as server:
        print(f"mmkeras-model-server listening on {server.address}")
        with PredictionClient(server.address, timeout=60) as client:
            outputs = predict_records(client, MODEL_NAME, test_records)
    print("server stopped")

    report(result, test_records, outputs)
    print(
        f"\nArtifacts: data {data_dir}, model {training_dir}, "
        f"SavedModel {export_path}"
    )
    print(f"Wall time: {time.monotonic() - started:.0f} s")


def report(result, records, outputs):
    class_names = result.class_names
    modalities = result.classifier.backbone.modality_names
    truth = np.array([class_names.index(r["label"]) for r in records])
    predicted = outputs["class_ids"]
    weights = outputs["modality_weights"]
    print(
        "\nExample predictions (modality weights: "
        + ", ".join(modalities)
        + "):"
    )
    for i in range(min(5, len(records))):
        name = class_names[predicted[i]]
        mark = "ok" if predicted[i] == truth[i] else "WRONG"
        shown = _format_weights(modalities, weights[i])
        print(
            f"  [{mark}] {os.path.basename(records[i]['image'])} "
            f'"{records[i]["text"]}" -> {name} '
            f"(p={outputs['probabilities'][i][predicted[i]]:.3f}; {shown})"
        )
    mean_weights = _format_weights(modalities, weights.mean(axis=0))
    print(f"Mean modality weights: {mean_weights}")
    accuracy = float(np.mean(predicted == truth))
    print(
        f"\nHeld-out accuracy over gRPC: {accuracy:.4f} "
        f"({int(np.sum(predicted == truth))}/{len(records)})"
    )


def _format_weights(modalities, weights):
    pairs = zip(modalities, weights, strict=True)
    return " ".join(f"{m}={w:.2f}" for m, w in pairs)


if __name__ == "__main__":
    main()
