"""One training process of the multi-worker tests: trains the
`TrainConfig` given as JSON and writes what the test compares (final
weights, history) to an .npz outside the output directory.

    python tests/training/train_worker.py CONFIG_JSON RESULT_NPZ
"""

import json
import sys

import numpy as np

from mmkeras.training import TrainConfig
from mmkeras.training import train


def main(config_json, result_path):
    result = train(TrainConfig(**json.loads(config_json)))
    weights = result.task.get_weights()
    np.savez(
        result_path,
        history=json.dumps(result.history),
        steps=int(result.task.optimizer.iterations.numpy()),
        **{f"w{i}": w for i, w in enumerate(weights)},
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
