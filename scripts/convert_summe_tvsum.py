"""Converts SumMe or TVSum (the vsLSTM/DR-DSN/DSNet h5 layout) into a
manifest for `mmkeras train --task video_summary`.

Usage:
  python scripts/convert_summe_tvsum.py eccv16_dataset_tvsum_google_pool5.h5 \
      --videos tvsum50/video --output tvsum.jsonl
  mmkeras train --task video_summary --manifest tvsum.jsonl --output-dir run

The h5 file holds features and user summaries, not pixels: --videos is
the folder of the dataset's own videos, matched by each entry's
`video_name` (or by --name-map, a JSON object of h5 key to file name).
Needs h5py (`pip install h5py`).
"""

import argparse
import json
import sys

from mmkeras.data.summary_datasets import h5_records
from mmkeras.data.summary_datasets import write_manifest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("h5", help="the dataset's h5 file")
    parser.add_argument("--videos", required=True, help="folder of videos")
    parser.add_argument("--output", required=True, help="manifest to write")
    parser.add_argument("--name-map", help="JSON file: h5 key -> file name")
    parser.add_argument("--seed", type=int, default=0, help="split seed")
    args = parser.parse_args(argv)
    try:
        import h5py
    except ImportError:
        sys.exit(
            "convert_summe_tvsum.py needs h5py, which is not installed: "
            "pip install h5py"
        )
    name_map = None
    if args.name_map:
        with open(args.name_map, encoding="utf-8") as f:
            name_map = json.load(f)
    with h5py.File(args.h5, "r") as h5:
        records, missing = h5_records(h5, args.videos, name_map, args.seed)
    if missing:
        print(
            f"No video found for {len(missing)} entries: "
            + ", ".join(missing[:10])
            + (", ..." if len(missing) > 10 else "")
        )
    if not records:
        sys.exit(f"No entry of {args.h5} matched a video in {args.videos}.")
    write_manifest(records, args.output)
    print(f"Wrote {len(records)} records to {args.output}")


if __name__ == "__main__":
    main()
