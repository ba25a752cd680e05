"""The main job: files -> fused training and baselines -> SavedModel ->
gRPC server -> held-out accuracy, compared with what a user could do
instead.

Run with `make demo`. Everything is generated here (no downloads); the
artifacts stay in --workdir for inspection.
"""

import argparse
import os
import shutil
import time

from mmkeras.quiet import import_tensorflow_quietly

import_tensorflow_quietly()

import numpy as np  # noqa: E402

from mmkeras.data.manifest import read_manifest  # noqa: E402
from mmkeras.data.synthetic import write_dataset  # noqa: E402
from mmkeras.export.saved_model import export_task  # noqa: E402
from mmkeras.remote import predict_raw  # noqa: E402
from mmkeras.training import baselines  # noqa: E402
from mmkeras.training.evaluation import predict_split  # noqa: E402
from mmkeras.training.trainer import TrainConfig  # noqa: E402
from mmkeras.training.trainer import train  # noqa: E402
from serving.client import PredictionClient  # noqa: E402
from serving.process import ModelServerProcess  # noqa: E402

MODEL_NAME = "mmkeras_demo"
MODALITIES = ("audio", "image", "text")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", default="artifacts/demo")
    parser.add_argument("--examples", type=int, default=1800)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    # The fusion measures, to compare them one at a time.
    parser.add_argument("--fusion", default="attention")
    parser.add_argument("--modality-dropout", type=float, default=0.25)
    parser.add_argument("--auxiliary-loss-weight", type=float, default=1.0)
    parser.add_argument(
        "--no-modality-evidence", dest="modality_evidence", action="store_false"
    )
    parser.add_argument(
        "--fusion-trains-encoders",
        dest="stop_fusion_gradients",
        action="store_false",
    )
    parser.add_argument("--no-augment", dest="augment", action="store_false")
    parser.add_argument("--early-stopping", type=int, default=0)
    return parser.parse_args()


def step(message):
    print(f"\n== {message}", flush=True)


def main():
    args = parse_args()
    started = time.monotonic()
    # The demo's working directory is its own: start from a clean slate.
    shutil.rmtree(args.workdir, ignore_errors=True)
    data_dir = os.path.join(args.workdir, "data")
    base_path = os.path.join(args.workdir, "models")

    step("1/5 Writing the synthetic dataset: images, captions, WAV audio")
    manifest_path = write_dataset(
        data_dir, args.examples, seed=args.seed, modalities=MODALITIES
    )
    test_records = read_manifest(manifest_path).split("test")
    print(
        f"{args.examples} examples; each modality is noisy, sometimes "
        "missing, and captions sometimes contradict the label"
    )

    config = TrainConfig(
        manifest=manifest_path,
        output_dir=os.path.join(args.workdir, "training"),
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        clip_seconds=0.5,
        fusion=args.fusion,
        modality_dropout=args.modality_dropout,
        auxiliary_loss_weight=args.auxiliary_loss_weight,
        modality_evidence=args.modality_evidence,
        stop_fusion_gradients=args.stop_fusion_gradients,
        augment=args.augment,
        early_stopping_patience=args.early_stopping,
        validate=False,  # only early stopping needs it; 15% of the time
        # The same numbers on every run of the same machine.
        deterministic=True,
        verbose=0,
    )
    step(f"2/5 Training the fused model (3 encoders + {args.fusion} fusion)")
    fused = _train_timed(config)

    step("3/5 Training one model per modality, the same way (baselines)")
    singles = {
        m: _train_timed(baselines.single_modality_config(config, m))
        for m in MODALITIES
    }

    step("4/5 Exporting the fused model and serving it")
    export_path = export_task(fused, base_path, MODEL_NAME)
    print(f"SavedModel: {export_path}")
    with ModelServerProcess(
        MODEL_NAME, os.path.join(base_path, MODEL_NAME)
    ) as server:
        print(f"mmkeras-model-server listening on {server.address}")
        with PredictionClient(server.address, timeout=60) as client:
            served = _served_accuracies(client, fused, test_records)
    print("server stopped")

    step(f"5/5 Held-out accuracy ({len(test_records)} test examples)")
    report(fused, singles, served, test_records)
    print(f"\nWall time: {time.monotonic() - started:.0f} s")


def _train_timed(config):
    started = time.monotonic()
    task = train(config).task
    modalities = "+".join(config.modalities or MODALITIES)
    print(f"  {modalities}: {time.monotonic() - started:.0f} s")
    return task


def _served_accuracies(client, fused, records):
    """Fused probabilities over gRPC, whole and with each modality removed."""

    def predict(raw):
        return predict_raw(client, MODEL_NAME, raw)

    results = {}
    for removed in (None,) + MODALITIES:
        without = (removed,) if removed else ()
        outputs, targets, answered = predict_split(
            fused, records, predict=predict, without=without
        )
        results[removed] = (outputs, targets, answered)
    return results


def report(fused, singles, served, records):
    names = fused.class_names
    outputs, targets, answered = served[None]
    fused_p = baselines.all_probabilities(outputs, answered, len(names))
    rows = [("fused model, over gRPC", fused_p, targets)]
    for removed in MODALITIES:
        outputs, removed_targets, answered = served[removed]
        probabilities = baselines.all_probabilities(
            outputs, answered, len(names)
        )
        rows.append((f"fused, {removed} removed", probabilities, targets))
    single_p, single_answered = {}, {}
    for modality, task in singles.items():
        outputs, _, answered = predict_split(task, records)
        single_p[modality] = baselines.all_probabilities(
            outputs, answered, len(names)
        )
        single_answered[modality] = answered
        rows.append((f"{modality} alone", single_p[modality], targets))
    late = baselines.late_fusion(
        list(single_p.values()), list(single_answered.values())
    )
    rows.append(("late fusion (mean of the single models)", late, targets))
    for label, probabilities, row_targets in rows:
        value = baselines.accuracy(probabilities, row_targets, names)
        print(f"  {label:<42} {value:.4f}")
    print(f"  {'chance':<42} {1 / len(names):.4f}")
    print(
        "  (a single model facing an example without its modality guesses "
        "uniformly; late fusion averages the models that can answer)"
    )
    _report_conditions(records, names, fused_p, single_p, late, targets)


def _report_conditions(records, names, fused_p, single_p, late, targets):
    """Accuracy on the examples where one modality lies or is missing."""
    conditions = [r.get("conditions") or {} for r in records]
    cases = [
        ("caption contradicts the label", "text", "contradicting"),
        ("caption names no class", "text", "neutral"),
        ("image degraded", "image", "degraded"),
        ("image missing", "image", "missing"),
    ]
    print("\nBy condition (fused / best single / late fusion):")
    for label, modality, value in cases:
        rows = np.array([c.get(modality) == value for c in conditions])
        if not rows.any():
            continue
        chosen = [t for t, keep in zip(targets, rows, strict=True) if keep]
        fused = baselines.accuracy(fused_p[rows], chosen, names)
        best = max(
            baselines.accuracy(p[rows], chosen, names)
            for p in single_p.values()
        )
        late_value = baselines.accuracy(late[rows], chosen, names)
        print(
            f"  {label:<32} ({rows.sum():3d}) {fused:.3f} / {best:.3f} / "
            f"{late_value:.3f}"
        )


if __name__ == "__main__":
    main()
