"""Speech recognition on the eSpeak NG demo data: train, then measure CER
and WER on the held-out test voices, greedy and with the character LM,
beside what a blank-only output scores, and draw a few alignments.

Run: `.venv/bin/python scripts/train_speech.py` (at most 15 minutes of
training on 2 cores). The data is generated into --data-dir if it is not
there; the model, metrics and alignment sheet go to --workdir.
"""

import argparse
import json
import os
import shutil
import time

from mmkeras.quiet import import_tensorflow_quietly

import_tensorflow_quietly()

from mmkeras.data import synthetic_speech  # noqa: E402
from mmkeras.training import speech  # noqa: E402
from mmkeras.training.trainer import TrainConfig  # noqa: E402
from mmkeras.training.trainer import train  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default="artifacts/speech_data")
    parser.add_argument("--workdir", default="artifacts/speech")
    parser.add_argument("--examples-per-voice", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--hidden-dim", type=int, default=96)
    parser.add_argument("--num-layers", type=int, default=3)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--clip-seconds", type=float, default=2.5)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    manifest = os.path.join(args.data_dir, "manifest.jsonl")
    if not os.path.exists(manifest):
        summary = synthetic_speech.write_speech_dataset(
            args.data_dir,
            examples_per_voice=args.examples_per_voice,
            max_seconds=args.clip_seconds,
            seed=args.seed,
        )
        print(f"Wrote {summary['engine']} speech: {summary['counts']}")
    shutil.rmtree(args.workdir, ignore_errors=True)
    config = TrainConfig(
        manifest=manifest,
        output_dir=args.workdir,
        task="speech",
        hidden_dim=args.hidden_dim,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        dropout=0.1,
        clip_seconds=args.clip_seconds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        verbose=2,
    )
    started = time.monotonic()
    result = train(config)
    minutes = (time.monotonic() - started) / 60
    task = result.task
    test = speech.read_speech_manifest(manifest).split("test")
    report = speech.speech_report(task, test, config.batch_size)
    voices = sorted({record["voice"] for record in test})
    print(
        f"Trained in {minutes:.1f} min; test split: {len(test)} clips of "
        f"held-out voices ({', '.join(voices)}); LM weight "
        f"{task.lm_weight:g}"
    )
    for name, rates in report.items():
        print(f"  {name:<16} CER {rates['cer']:.4f}  WER {rates['wer']:.4f}")
    sheet = os.path.join(args.workdir, "alignments.png")
    speech.draw_alignments(task, test[:4], sheet)
    print(f"Alignments of 4 test clips: {sheet}")
    with open(os.path.join(args.workdir, "metrics.json"), "w") as f:
        json.dump({"minutes": minutes, **report}, f, indent=2)


if __name__ == "__main__":
    main()
