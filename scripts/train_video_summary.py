"""Video summarisation on the demo clips: train, then measure the test
clips' summaries against a random summary and the annotators themselves.

Run: `.venv/bin/python scripts/train_video_summary.py` (at most 15
minutes on 2 cores). The clips are generated into --data-dir if they are
not there; the model and its run files go to --workdir. It trains in
float32 unless --precision says otherwise (the README's figures are
float32's; "auto" picks mixed_bfloat16 on CPUs with AMX), and prints the
precision and the machine's load average beside the training time, since
a shared machine trains slower.

Printed: F-score (mean and max over annotators), Kendall's tau and
Spearman's rho, each beside the same measure of a random summary on the
same shots and of each annotator against the others (leave one out).
F-scores use the clips' own shots (the SumMe/TVSum protocol); the last
line gives the model's F-score over its own KTS shots, as served.
"""

import argparse
import os
import time

from mmkeras.quiet import import_tensorflow_quietly

import_tensorflow_quietly()

from mmkeras.data.synthetic_videos import write_video_summary_dataset  # noqa: E402
from mmkeras.training.evaluation import evaluate  # noqa: E402
from mmkeras.training.trainer import TrainConfig  # noqa: E402
from mmkeras.training.trainer import load_source  # noqa: E402
from mmkeras.training.trainer import train  # noqa: E402

# The goals on the demo data.
GOAL_F_MEAN = 0.70
GOAL_RANDOM_RATIO = 2.0
GOAL_TAU = 0.40
ROWS = (
    ("F-score (mean)", "f_mean"),
    ("F-score (max)", "f_max"),
    ("Kendall's tau", "tau"),
    ("Spearman's rho", "rho"),
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default="artifacts/video_summary_data")
    parser.add_argument("--workdir", default="artifacts/video_summary")
    parser.add_argument("--clips", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--num-frames", type=int, default=48)
    parser.add_argument("--hidden-dim", type=int, default=32)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--rank-loss-weight", type=float, default=1.0)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def format_table(metrics):
    """The model's figures beside the random summary's and the humans'."""
    lines = [f"{'':<16}{'model':>8}{'random':>8}{'human':>8}"]
    for title, key in ROWS:
        lines.append(
            f"{title:<16}{metrics[key]:>8.3f}{metrics[key + '_random']:>8.3f}"
            f"{metrics[key + '_human']:>8.3f}"
        )
    lines.append(
        f"Over the model's own KTS shots (as served): F-score (mean) "
        f"{metrics['f_mean_kts']:.3f}, (max) {metrics['f_max_kts']:.3f}"
    )
    return "\n".join(lines)


def main():
    args = parse_args()
    started = time.monotonic()
    manifest = os.path.join(args.data_dir, "manifest.jsonl")
    if not os.path.exists(manifest):
        write_video_summary_dataset(args.data_dir, args.clips, seed=args.seed)
    config = TrainConfig(
        manifest=manifest,
        output_dir=os.path.join(args.workdir, "run"),
        task="video_summary",
        hidden_dim=args.hidden_dim,
        num_layers=args.num_layers,
        rank_loss_weight=args.rank_loss_weight,
        precision=args.precision,
        num_frames=args.num_frames,
        dropout=0.1,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        verbose=2,
    )
    result = train(config)
    trained = time.monotonic() - started
    test = load_source(manifest, task="video_summary").split("test")
    metrics = evaluate(result.task, test)
    # The 15-minute load average spans the training: how shared it was.
    one, _, fifteen = os.getloadavg()
    print(
        f"\nTest split: {metrics['videos']} records "
        f"(trained in {result.task.dtype_policy.name}, in "
        f"{trained / 60:.1f} min, {(time.monotonic() - started) / 60:.1f} "
        f"min in all; load average {one:.1f} (1 min), {fifteen:.1f} "
        f"(15 min) on {os.cpu_count()} cores)"
    )
    print(format_table(metrics))
    ratio = metrics["f_mean"] / max(metrics["f_mean_random"], 1e-9)
    print(
        f"Goals: F(mean) >= {GOAL_F_MEAN}: "
        f"{'yes' if metrics['f_mean'] >= GOAL_F_MEAN else 'NO'}; "
        f">= {GOAL_RANDOM_RATIO}x random ({ratio:.2f}x): "
        f"{'yes' if ratio >= GOAL_RANDOM_RATIO else 'NO'}; "
        f"tau >= {GOAL_TAU}: {'yes' if metrics['tau'] >= GOAL_TAU else 'NO'}"
    )


if __name__ == "__main__":
    main()
