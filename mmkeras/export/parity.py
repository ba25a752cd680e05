"""How a task's TFLite variants compare with the Keras model it came from.

On held-out records, each variant (none, float16, dynamic, int8) runs in
LiteRT on the device inputs that `task.device_inputs` makes from the same
raw values the Keras model reads, and is measured by the task's own
metrics (`task.evaluate_outputs`), so nothing here knows a modality.
"""

import statistics
import time

import numpy as np

from mmkeras.export import op_check
from mmkeras.export import tflite
from mmkeras.training.evaluation import predict_split

# The bounds: dynamic-range quantization costs at most one point
# of the task's metric and shrinks the file to at most 0.3x of float32.
METRIC_POINTS = 1.0
SIZE_RATIO = 0.3
LATENCY_RUNS = 50


def parity_report(task, models, held_out, saved_model_dir, batch_size=64):
    """Measures each TFLite variant against the Keras task.

    Args:
        task: the `Task` the variants were converted from.
        models: dict of quantization name to `.tflite` bytes; "none" is
            the float32 reference for sizes.
        held_out: a list of manifest records (or a packed split) with
            targets.
        saved_model_dir: str. The SavedModel of the same device
            signatures, whose batch-1 latency the variants' is compared
            with.
        batch_size: int.

    Returns:
        dict (JSON values): `examples`, `keras` metrics, `saved_model`
        latency, per variant `size_bytes`, `size_ratio`,
        `size_ratio_without_text_tables`, `constant_ratio` (the weights
        and other constants, without TF Text's tables: what quantization
        shrinks), `max_abs_diff` per float output,
        `metrics` and `latency_ms`, and the issue's `checks`.
    """
    reference, targets, answered = predict_split(task, held_out, batch_size)
    targets = np.asarray(targets)[answered]
    keras_metrics = task.evaluate_outputs(reference, targets)
    example = _first_example(task, held_out)
    saved_latency = _saved_model_latency(saved_model_dir, example)
    variants = {}
    for name, model in models.items():
        interpreter = tflite.load_interpreter(model_content=model)
        outputs, _, _ = predict_split(
            task, held_out, batch_size, _litert_predict(task, interpreter)
        )
        variants[name] = {
            "size_bytes": len(model),
            "text_table_bytes": text_table_bytes(model),
            "constant_bytes": constant_bytes(model),
            "max_abs_diff": {
                key: float(np.max(np.abs(outputs[key] - reference[key])))
                for key in sorted(outputs)
                if key in reference
                and np.asarray(reference[key]).dtype.kind == "f"
            },
            "metrics": task.evaluate_outputs(outputs, targets),
            "latency_ms": _median_ms(
                lambda i=interpreter: tflite.run_signature(i, example)
            ),
        }
    _add_ratios(variants)
    return {
        "examples": int(len(targets)),
        "keras": {"metrics": keras_metrics},
        "saved_model": {"latency_ms": saved_latency},
        "variants": variants,
        "checks": _checks(variants),
    }


def text_table_bytes(model_content):
    """Bytes of the constant inputs of TF Text's TFLite ops.

    The tokenizer's models (Unicode normalisation and pre-tokenisation
    tables, the vocabulary trie) are the same in every variant: no
    quantization shrinks them.
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(model_content, 0)
    custom = {
        i
        for i in range(model.OperatorCodesLength())
        if (model.OperatorCodes(i).CustomCode() or b"").decode()
        in op_check.TF_TEXT_TFLITE_OPS
    }
    buffers = set()
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            if op.OpcodeIndex() in custom:
                buffers.update(
                    graph.Tensors(t).Buffer()
                    for t in op.InputsAsNumpy()
                    if t >= 0
                )
    return int(sum(model.Buffers(b).DataLength() for b in buffers))


def constant_bytes(model_content):
    """Bytes of the model's constants other than TF Text's tables.

    The weights, and the other constants of the graph (filter banks,
    position encodings folded by the converter). The rest of the file is
    the graph itself (operators, tensor names and shapes, quantization
    scales), which no quantization shrinks either.
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(model_content, 0)
    total = sum(
        model.Buffers(i).DataLength() for i in range(model.BuffersLength())
    )
    return int(total - text_table_bytes(model_content))


def _litert_predict(task, interpreter):
    def predict(raw):
        inputs = {
            key: np.asarray(value)
            for key, value in task.device_inputs(raw).items()
        }
        return tflite.run_signature(interpreter, inputs)

    return predict


def _first_example(task, held_out):
    """Device inputs of one held-out example with some modality (a task
    whose device inputs have no `<modality>_present` flags has all)."""
    from mmkeras.data.pipeline import raw_dataset

    modalities = task.preprocessor.modalities
    for raw in raw_dataset(held_out, modalities, target_fields=()).batch(1):
        inputs = task.device_inputs(raw)
        flags = [f"{m}_present" for m in modalities]
        present = [inputs[flag] for flag in flags if flag in inputs]
        if not present or np.any(present):
            return {k: np.asarray(v) for k, v in inputs.items()}
    raise ValueError("No held-out example has any of the model's modalities.")


def _saved_model_latency(saved_model_dir, example):
    import tensorflow as tf

    signature = tf.saved_model.load(saved_model_dir).signatures[
        tflite.SIGNATURE_NAME
    ]
    tensors = {k: tf.constant(v) for k, v in example.items()}
    return _median_ms(lambda: signature(**tensors))


def _median_ms(run, runs=LATENCY_RUNS, warmup=3):
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _add_ratios(variants):
    if "none" not in variants:
        return
    full = variants["none"]
    for variant in variants.values():
        variant["size_ratio"] = variant["size_bytes"] / full["size_bytes"]
        rest = variant["size_bytes"] - variant["text_table_bytes"]
        full_rest = full["size_bytes"] - full["text_table_bytes"]
        variant["size_ratio_without_text_tables"] = rest / full_rest
        variant["constant_ratio"] = (
            variant["constant_bytes"] / full["constant_bytes"]
        )


def _checks(variants):
    """The issue's bounds on the dynamic-range variant, when measured."""
    if not {"none", "dynamic"} <= set(variants):
        return {}
    full, dynamic = variants["none"], variants["dynamic"]
    metric = _metric_names(full["metrics"])[0]
    points = 100 * (dynamic["metrics"][metric] - full["metrics"][metric])
    return {
        "dynamic_metric_within_1_point": {
            "metric": metric,
            "points": points,
            "ok": abs(points) <= METRIC_POINTS,
        },
        "dynamic_size_at_most_0.3x": {
            "ratio": dynamic["size_ratio"],
            "ratio_without_text_tables": dynamic[
                "size_ratio_without_text_tables"
            ],
            "ratio_of_constants": dynamic["constant_ratio"],
            "ok": dynamic["size_ratio"] <= SIZE_RATIO,
        },
    }


def _metric_names(metrics):
    """The task's float metrics, leaving out counts (`examples`,
    retrieval's `gallery_items`); the first is the one checked."""
    return [k for k, v in metrics.items() if isinstance(v, float)]


def format_report(report):
    """The table `mmkeras export --format tflite` prints."""
    keras_metrics = report["keras"]["metrics"]
    names = _metric_names(keras_metrics)
    lines = [
        f"TFLite parity on {report['examples']} held-out examples "
        f"(Keras model: "
        + ", ".join(f"{n} {keras_metrics[n]:.4f}" for n in names)
        + f"; SavedModel batch-1 latency "
        f"{report['saved_model']['latency_ms']:.2f} ms)",
        f"{'variant':<9}{'size':>10}{'x f32':>7}{'x f32*':>8}{'consts':>8}"
        f"{'max|diff|':>11}"
        + "".join(f"{n:>{_width(n)}}" for n in names)
        + f"{'b1 ms':>8}{'x SM':>7}",
    ]
    saved_latency = report["saved_model"]["latency_ms"]
    for name, variant in report["variants"].items():
        diff = max(variant["max_abs_diff"].values(), default=0.0)
        lines.append(
            f"{name:<9}{_megabytes(variant['size_bytes']):>10}"
            f"{variant.get('size_ratio', 1.0):>7.2f}"
            f"{variant.get('size_ratio_without_text_tables', 1.0):>8.2f}"
            f"{variant.get('constant_ratio', 1.0):>8.2f}"
            f"{diff:>11.2e}"
            + "".join(f"{variant['metrics'][n]:>{_width(n)}.4f}" for n in names)
            + f"{variant['latency_ms']:>8.2f}"
            f"{variant['latency_ms'] / saved_latency:>7.2f}"
        )
    first = next(iter(report["variants"].values()))
    tables = first["text_table_bytes"]
    graph = first["size_bytes"] - tables - first["constant_bytes"]
    lines.append(
        f"x f32* leaves out TF Text's tokenizer tables "
        f"({_megabytes(tables)}, the same in every variant); consts is the "
        "ratio of the weights and other constants alone (the rest of the "
        f"file, the graph, is {_megabytes(graph)} in the first variant); "
        "max|diff| is "
        "over the float outputs; b1 ms is the median batch-1 latency in "
        "LiteRT (x SM: over the SavedModel of the same signature)."
    )
    for name, check in report["checks"].items():
        detail = ", ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in check.items()
            if k != "ok"
        )
        verdict = "yes" if check["ok"] else "NO"
        lines.append(f"{name}: {verdict} ({detail})")
    return "\n".join(lines)


def _width(name):
    """A metric column's width: 10, or more for a longer name."""
    return max(10, len(name) + 1)


def _megabytes(size):
    return f"{size / 1e6:.3f} MB"
