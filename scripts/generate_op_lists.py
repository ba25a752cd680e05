"""Writes the op list of each TF Serving release that `check-export` knows.

Installs each release's TensorFlow and TF Text wheels into their own
virtualenvs (about 600 MB each, kept in --cache-dir) and writes
`mmkeras/export/ops/tf_serving_<release>.json`; see
`mmkeras/export/op_lists.py` for how the lists are made.

    python scripts/generate_op_lists.py --releases 2.21 2.20 2.19
"""

import argparse
import os
import tempfile

from mmkeras.export.op_check import OPS_DIR
from mmkeras.export.op_lists import RELEASES
from mmkeras.export.op_lists import write_op_lists


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--releases", nargs="+", default=sorted(RELEASES), choices=RELEASES
    )
    parser.add_argument(
        "--cache-dir",
        default=os.path.join(tempfile.gettempdir(), "mmkeras-op-lists"),
        help="where the releases' virtualenvs are kept",
    )
    parser.add_argument("--output-dir", default=OPS_DIR)
    args = parser.parse_args()
    write_op_lists(args.releases, args.cache_dir, args.output_dir)


if __name__ == "__main__":
    main()
