"""A fused model against what a user could do instead, on one split.

The demo's table: the fused model (whole, and with each modality sent
empty), each single-modality model, late fusion and chance, then the
same on the examples where one modality lies or is missing.
"""

import os
import time

import numpy as np

from mmkeras.training import baselines
from mmkeras.training.evaluation import predict_split

# (row label, manifest `conditions` key, its value)
CONDITIONS = (
    ("caption contradicts the label", "text", "contradicting"),
    ("caption names no class", "text", "neutral"),
    ("image degraded", "image", "degraded"),
    ("image missing", "image", "missing"),
)


def predict_without_each(task, records, predict, modalities):
    """Probabilities for every record: whole, then each modality removed.

    Returns:
        `(targets, probabilities)`: the target strings and a dict of the
        removed modality (None for none) to `(examples, classes)` arrays,
        uniform where nothing was left to answer from.
    """
    probabilities = {}
    for removed in (None, *modalities):
        without = (removed,) if removed else ()
        outputs, targets, answered = predict_split(
            task, records, predict=predict, without=without
        )
        probabilities[removed] = baselines.all_probabilities(
            outputs, answered, len(task.class_names)
        )
    return targets, probabilities


def single_probabilities(singles, records, num_classes):
    """Each single-modality task's probabilities and answered mask."""
    probabilities, answered = {}, {}
    for modality, task in singles.items():
        outputs, _, answered[modality] = predict_split(task, records)
        probabilities[modality] = baselines.all_probabilities(
            outputs, answered[modality], num_classes
        )
    return probabilities, answered


def comparison_lines(names, targets, fused, singles, answered, conditions):
    """The comparison as printed lines.

    Args:
        names: list of class names.
        targets: list of target strings, one per example.
        fused: dict of removed modality (None: nothing removed) to the
            fused model's probabilities.
        singles: dict of modality to its single model's probabilities.
        answered: dict of modality to bool: did its model answer.
        conditions: list of each example's `conditions` dict.
    """
    late = baselines.late_fusion(
        list(singles.values()), list(answered.values())
    )
    rows = [("fused model, over gRPC", fused[None])]
    rows += [(f"fused, {m} removed", fused[m]) for m in fused if m]
    rows += [(f"{m} alone", p) for m, p in singles.items()]
    rows.append(("late fusion (mean of the single models)", late))
    lines = [
        f"  {label:<42} {baselines.accuracy(p, targets, names):.4f}"
        for label, p in rows
    ]
    lines.append(f"  {'chance':<42} {1 / len(names):.4f}")
    lines.append(
        "  (a single model facing an example without its modality guesses "
        "uniformly; late fusion averages the models that can answer)"
    )
    lines.append("\nBy condition (fused / best single / late fusion):")
    for label, modality, value in CONDITIONS:
        keep = np.array([c.get(modality) == value for c in conditions])
        if not keep.any():
            continue
        chosen = [t for t, k in zip(targets, keep, strict=True) if k]
        fused_value = baselines.accuracy(fused[None][keep], chosen, names)
        best = max(
            baselines.accuracy(p[keep], chosen, names) for p in singles.values()
        )
        late_value = baselines.accuracy(late[keep], chosen, names)
        lines.append(
            f"  {label:<32} ({keep.sum():3d}) {fused_value:.3f} / {best:.3f} / "
            f"{late_value:.3f}"
        )
    return lines


def run(config, test_records, base_path, model_name, say=print):
    """Trains the fused task and one per modality, serves the fused one,
    and returns the comparison's lines.

    The fused task (`config`) and each single-modality task (the same
    config, one modality) are trained; the fused one is exported to
    `base_path/model_name` and every test record is sent to it through
    `mmkeras-model-server` over gRPC, whole and with each modality empty.

    Args:
        config: a `TrainConfig` for the fused task.
        test_records: the held-out manifest records.
        base_path: str. Where the SavedModel goes.
        model_name: str.
        say: callable taking one progress line (a step starts with "== ").
    """
    from mmkeras.export.saved_model import export_task
    from mmkeras.remote import predict_raw
    from mmkeras.training.trainer import train
    from serving.client import PredictionClient
    from serving.process import ModelServerProcess

    def train_timed(step_config):
        started = time.monotonic()
        task = train(step_config).task
        modalities = "+".join(task.preprocessor.modalities)
        say(f"  {modalities}: {time.monotonic() - started:.0f} s")
        return task

    say(f"== 2/5 Training the fused model ({config.fusion} fusion)")
    fused = train_timed(config)
    modalities = fused.preprocessor.modalities
    say("== 3/5 Training one model per modality, the same way (baselines)")
    singles = {
        m: train_timed(baselines.single_modality_config(config, m))
        for m in modalities
    }
    say("== 4/5 Exporting the fused model and serving it")
    say(f"SavedModel: {export_task(fused, base_path, model_name)}")
    with ModelServerProcess(
        model_name, os.path.join(base_path, model_name)
    ) as server:
        say(f"mmkeras-model-server listening on {server.address}")
        with PredictionClient(server.address, timeout=60) as client:
            targets, fused_p = predict_without_each(
                fused,
                test_records,
                lambda raw: predict_raw(client, model_name, raw),
                modalities,
            )
    say("server stopped")
    single_p, answered = single_probabilities(
        singles, test_records, len(fused.class_names)
    )
    conditions = [r.get("conditions") or {} for r in test_records]
    return comparison_lines(
        fused.class_names, targets, fused_p, single_p, answered, conditions
    )
