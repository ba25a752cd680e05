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

from mmkeras.data.manifest import read_manifest  # noqa: E402
from mmkeras.data.synthetic import write_dataset  # noqa: E402
from mmkeras.training import comparison  # noqa: E402
from mmkeras.training.trainer import TrainConfig  # noqa: E402

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


def say(line):
    # A step gets a blank line before it, as in the rest of the output.
    print(f"\n{line}" if line.startswith("== ") else line, flush=True)


def main():
    args = parse_args()
    started = time.monotonic()
    # The demo's working directory is its own: start from a clean slate.
    shutil.rmtree(args.workdir, ignore_errors=True)
    say("== 1/5 Writing the synthetic dataset: images, captions, WAV audio")
    manifest_path = write_dataset(
        os.path.join(args.workdir, "data"),
        args.examples,
        seed=args.seed,
        modalities=MODALITIES,
    )
    test_records = read_manifest(manifest_path).split("test")
    say(
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
    lines = comparison.run(
        config,
        test_records,
        os.path.join(args.workdir, "models"),
        MODEL_NAME,
        say,
    )
    say(f"== 5/5 Held-out accuracy ({len(test_records)} test examples)")
    for line in lines:
        say(line)
    say(f"\nWall time: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
