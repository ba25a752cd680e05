"""Benchmarks gradient caching against ordinary full-batch training.

    python scripts/bench_gradcache.py [--chunk-sizes 64 32] [--repeats 2]
        [--rounds 8] [--batch-size 256]

A DualEncoder (image 48px, text 36 tokens, hidden 64) trains on one
batch, whole and in chunks; samples/s and peak memory are printed side by
side, each with its ratio to the full batch. How memory and speed are
measured (fresh processes, interleaved steps) is in
`mmkeras/training/gradient_cache_bench.py`.
"""

import argparse

from mmkeras.quiet import import_tensorflow_quietly

import_tensorflow_quietly()

from mmkeras.training import gradient_cache_bench as bench  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--chunk-sizes",
        type=int,
        nargs="+",
        default=[c for c in bench.CHUNK_SIZES if c],
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=bench.SPEED_ROUNDS)
    parser.add_argument("--batch-size", type=int, default=bench.BATCH_SIZE)
    args = parser.parse_args()
    bench.run(
        [None, *args.chunk_sizes],
        repeats=args.repeats,
        rounds=args.rounds,
        batch_size=args.batch_size,
    )


if __name__ == "__main__":
    main()
