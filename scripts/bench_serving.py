"""Benchmarks mmkeras-model-server against calling the model in-process.

    python scripts/bench_serving.py [--iterations 500] [--requests 1500]

What it measures and why is in `serving/bench.py`; every figure is
printed beside its counterpart from the same run, as a ratio.
"""

import argparse

from serving import bench


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--requests", type=int, default=1500)
    args = parser.parse_args()
    bench.run(args.iterations, args.requests)


if __name__ == "__main__":
    main()
