"""Training speed of the reference dual encoder: mmkeras against
keras-hub's CLIP, side by side in one process.

    python scripts/bench_train.py [--steps 10] [--rounds 5]
        [--batch-size 64] [--quick]

Needs keras-hub (`pip install -e .[bench]`). Prints samples/s of each
model (median over rounds, IQR) and their ratio, achieved GFLOP/s against
a float32 matmul roof measured in the same run, what XLA changes, the
input-pipeline ratio (files vs cached tensors), a per-op profile, and
whether issue 12's goals are met. How it measures is in
`mmkeras/training/train_bench.py`.
"""

import argparse
import importlib.util
import sys

from mmkeras.quiet import import_tensorflow_quietly


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=10, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=3, help="steps")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny models and a small roof matmul: a smoke test",
    )
    args = parser.parse_args(argv)
    if importlib.util.find_spec("keras_hub") is None:
        print("keras_hub is missing; run: pip install -e .[bench]")
        return 2
    import_tensorflow_quietly()
    from mmkeras.training import train_bench

    return_value = train_bench.run(
        train_bench.QUICK if args.quick else train_bench.REFERENCE,
        batch_size=args.batch_size,
        steps=args.steps,
        rounds=args.rounds,
        warmup=args.warmup,
        roof_size=256 if args.quick else 2048,
    )
    return 0 if return_value else 1


if __name__ == "__main__":
    sys.exit(main())
