"""Benchmarks the exported `search` signature against numpy brute force.

    python scripts/bench_retrieval.py [--sizes 100000 1000000]
        [--batches 1 16] [--repeats 7] [--k 10]

What it measures and why is in `mmkeras/export/search_bench.py`; the
signature and numpy are timed in the same run, interleaved, and every
figure is printed beside its counterpart as a ratio.
"""

import argparse

from mmkeras.quiet import import_tensorflow_quietly

import_tensorflow_quietly()

from mmkeras.export import search_bench  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(search_bench.SIZES)
    )
    parser.add_argument(
        "--batches", type=int, nargs="+", default=list(search_bench.BATCHES)
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--k", type=int, default=search_bench.K)
    args = parser.parse_args()
    search_bench.run(args.sizes, args.batches, args.repeats, args.k)


if __name__ == "__main__":
    main()
