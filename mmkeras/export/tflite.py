"""TFLite export of any task, for the LiteRT interpreter on a device.

A task's `device_signatures()` (the model on decoded pixels, float
waveforms, decoded frames and text strings) are written as a SavedModel,
then converted to TFLite builtins plus TF Text's TFLite ops, which
tokenise text inside the model. No Flex (Select TF) op is allowed: the pip
LiteRT interpreters do not have them, so a model that needs one does not
run on a device; a conversion that would need one fails and names it.
"""

import dataclasses
import json
import os
import tempfile
import warnings

import numpy as np
import tensorflow as tf

from mmkeras.export import op_check
from mmkeras.export.saved_model import SIGNATURE_NAME
from mmkeras.export.saved_model import write_signature_archive

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
# Examples the int8 calibration runs at most.
CALIBRATION_EXAMPLES = 100
# A calibrated range beyond this holds a sentinel (a mask's large negative
# logit, a dtype's min), not data: int8 cannot hold it beside real values.
SENTINEL_RANGE = 1e4
# Op types int8 keeps float: normalisation statistics and softmaxes.
FLOAT_OPS = ("MEAN", "SQUARED_DIFFERENCE", "RSQRT", "SOFTMAX", "LOG_SOFTMAX")


def text_op_registerers():
    """TF Text's TFLite op registrars, for LiteRT's interpreter.

    Functions that add each TF Text TFLite kernel (`FastBertNormalize`,
    `FastWordpieceTokenizeWithOffsets`, `RaggedTensorToTensor`, ...) to an
    interpreter's op resolver: `tensorflow_text.tflite_registrar`'s
    `SELECT_TFTEXT_OPS`.
    """
    from tensorflow_text import tflite_registrar

    return list(tflite_registrar.SELECT_TFTEXT_OPS)


def load_interpreter(model_path=None, model_content=None, num_threads=None):
    """An `ai_edge_litert` interpreter with TF Text's ops and no Flex.

    LiteRT's `InterpreterWithCustomOps` (the deprecated
    `tf.lite.Interpreter` is not used) with `text_op_registerers()`.

    Args:
        model_path: str. A `.tflite` file, or
        model_content: bytes. A model in memory.
        num_threads: int or None. CPU threads; None lets LiteRT choose.

    Returns:
        The interpreter, tensors allocated.
    """
    from ai_edge_litert.interpreter import InterpreterWithCustomOps

    interpreter = InterpreterWithCustomOps(
        custom_op_registerers=text_op_registerers(),
        model_path=model_path,
        model_content=model_content,
        num_threads=num_threads,
    )
    interpreter.allocate_tensors()
    return interpreter


def run_signature(interpreter, inputs, signature=SIGNATURE_NAME):
    """Runs one signature on numpy inputs; returns numpy outputs (copies).

    The signature runner resizes each input to its array's shape, so any
    batch size runs.
    """
    runner = interpreter.get_signature_runner(signature)
    arrays = {name: np.asarray(value) for name, value in inputs.items()}
    return {name: np.array(v) for name, v in runner(**arrays).items()}


def float32_task(task):
    """The task rebuilt in float32 with the same weights.

    A task trained under mixed precision computes in float16 or bfloat16,
    which TFLite's converter does not take as a model's compute dtype; the
    same architecture in float32 holds the same (float32) weights. A
    float32 task is returned as it is.
    """
    config = task.get_config()
    float32_config = _float32_policies(config)
    if float32_config == config:
        return task
    rebuilt = type(task).from_config(float32_config)
    rebuilt.set_weights(task.get_weights())
    return rebuilt


def _float32_policies(config):
    """The config with every mixed `dtype` policy replaced by float32."""
    if isinstance(config, (list, tuple)):
        return type(config)(_float32_policies(v) for v in config)
    if not isinstance(config, dict):
        return config
    config = {k: _float32_policies(v) for k, v in config.items()}
    dtype = config.get("dtype")
    if isinstance(dtype, str) and dtype.startswith("mixed_"):
        config["dtype"] = "float32"
    elif isinstance(dtype, dict) and "DTypePolicy" in dtype.get(
        "class_name", ""
    ):
        name = dtype.get("config", {}).get("name", "")
        if name.startswith("mixed_"):
            config["dtype"] = "float32"
    return config


def write_device_saved_model(task, directory):
    """Writes the task's device signatures as a SavedModel.

    Returns:
        list of str, the signature names (`serving_default` first).
    """
    signatures = task.device_signatures()
    write_signature_archive(task, signatures, directory, "device_signatures")
    return [SIGNATURE_NAME] + sorted(set(signatures) - {SIGNATURE_NAME})


def convert(saved_model_dir, signature_keys, quantize="none", calibration=()):
    """Converts a SavedModel's signatures to TFLite, without Flex ops.

    Args:
        saved_model_dir: str. A SavedModel of device signatures.
        signature_keys: list of str. The signatures to convert.
        quantize: "none" (float32); "float16" (float16 weights);
            "dynamic" (int8 weights, activations quantized on the fly);
            "int8" (int8 weights and activations, calibrated on
            `calibration`; an op without an int8 kernel stays float).
        calibration: iterable of dicts of numpy inputs of
            `serving_default`, one example each; "int8" only.

    Returns:
        bytes, the `.tflite` model.

    Raises:
        ValueError: if the model needs an op outside TFLite's builtins and
            TF Text's TFLite ops (it names them), or int8 has no data.
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(
            f"quantize must be one of {QUANTIZATIONS}, received {quantize!r}."
        )
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=list(signature_keys)
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    # TF Text's TFLite kernels are custom ops. Any other TF op the
    # converter cannot lower would become a custom op too, which no
    # interpreter has: check_device_ops refuses those by name.
    converter.allow_custom_ops = True
    # The int8 calibration runs the model, tokenizer included.
    converter.target_spec._experimental_custom_op_registerers = (
        text_op_registerers()
    )
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        model = _int8(converter, list(calibration))
    else:
        model = converter.convert()
    check_device_ops(model)
    return model


def _int8(converter, samples):
    """Calibrates, then quantizes all but the ops int8 would break.

    Three kinds of op stay float (TFLite's selective quantization: the
    denylists its quantization debugger passes to the MLIR quantizer):
    every op feeding a `LOG` (a log turns int8's absolute steps into
    unbounded relative error near zero: the log-mel front end); every op
    touching a tensor that shares a quantization scale with one whose
    calibrated range exceeds `SENTINEL_RANGE` (masked logits: with a
    mask's -inf or dtype minimum in range, an int8 scale rounds every
    real logit to one value, and TFLite aborts when it prepares an ADD
    whose scales it cannot represent); and the `FLOAT_OPS` (layer-norm
    statistics and softmaxes, which int8 serves worst in a transformer:
    on a demo model they halved the largest probability error and took
    the log loss from 0.87 to 0.71, float32's being 0.67).
    """
    from tensorflow.lite.python import convert as lite_convert

    if not samples:
        raise ValueError(
            "int8 quantization needs calibration examples (the training "
            "manifest's train split)."
        )

    def representative_dataset():
        for sample in samples:
            yield SIGNATURE_NAME, sample

    converter.representative_dataset = representative_dataset
    converter._experimental_calibrate_only = True
    with warnings.catch_warnings():
        # The calibrator reads signatures with tf.lite.Interpreter, which
        # warns that it is deprecated; inference here uses LiteRT's.
        warnings.filterwarnings("ignore", "(?s).*tf.lite.Interpreter")
        calibrated = converter.convert()
    return lite_convert.mlir_quantize(
        calibrated,
        denylisted_ops=list(FLOAT_OPS),
        denylisted_nodes=float_nodes(calibrated),
    )


# Ops whose int8 inputs and outputs share one scale, so a sentinel's
# scale spreads through them (the quantizer's "same scale" ops).
_SAME_SCALE_OPS = (
    "BROADCAST_TO",
    "CONCATENATION",
    "EXPAND_DIMS",
    "GATHER",
    "MAXIMUM",
    "MAX_POOL_2D",
    "MINIMUM",
    "PACK",
    "PAD",
    "REDUCE_MAX",
    "REDUCE_MIN",
    "RESHAPE",
    "SELECT",
    "SELECT_V2",
    "SLICE",
    "SPLIT",
    "SPLIT_V",
    "SQUEEZE",
    "STRIDED_SLICE",
    "TILE",
    "TRANSPOSE",
    "UNPACK",
)


def float_nodes(calibrated):
    """Output tensor names of the ops `_int8` keeps in float."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(calibrated, 0)
    codes = {
        getattr(schema.BuiltinOperator, name): name
        for name in ("LOG",) + _SAME_SCALE_OPS
    }
    nodes = set()
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        operators = [graph.Operators(i) for i in range(graph.OperatorsLength())]
        kinds = []
        for op in operators:
            code = model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            kinds.append(codes.get(builtin))
        extents = [
            _calibrated_extent(graph.Tensors(i))
            for i in range(graph.TensorsLength())
        ]
        groups = _scale_groups(operators, kinds, extents)
        huge = {
            groups.find(i)
            for i, extent in enumerate(extents)
            if extent is not None and extent > SENTINEL_RANGE
        }
        producer = {}
        for op in operators:
            for i in _indices(op.OutputsAsNumpy()):
                producer[i] = op

        def name(op, graph=graph):
            return graph.Tensors(op.Outputs(0)).Name().decode()

        pending = []
        for op, kind in zip(operators, kinds, strict=True):
            tensors = [*_op_tensors(op)]
            if any(i >= 0 and groups.find(i) in huge for i in tensors):
                nodes.add(name(op))
            if kind == "LOG":
                pending.append(op)
        seen = set()
        while pending:  # every op upstream of a LOG
            op = pending.pop()
            if id(op) in seen:
                continue
            seen.add(id(op))
            nodes.add(name(op))
            pending.extend(
                producer[i]
                for i in _indices(op.InputsAsNumpy())
                if i in producer
            )
    return sorted(nodes)


def _indices(values):
    """A flatbuffer vector of tensor indices as a list: its `...AsNumpy()`
    is the int 0, not an empty array, for an empty vector (an op without
    inputs, or without outputs)."""
    return [] if isinstance(values, int) else list(values)


def _op_tensors(op):
    return _indices(op.InputsAsNumpy()) + _indices(op.OutputsAsNumpy())


def _scale_groups(operators, kinds, extents):
    """Tensors that must share a scale, joined through same-scale ops."""
    groups = _UnionFind(len(extents))
    for op, kind in zip(operators, kinds, strict=True):
        if kind not in _SAME_SCALE_OPS:
            continue
        # Only calibrated (float) tensors carry a scale: not indices,
        # shapes or conditions.
        tensors = [
            i for i in _op_tensors(op) if i >= 0 and extents[i] is not None
        ]
        for i in tensors[1:]:
            groups.union(tensors[0], i)
    return groups


class _UnionFind:
    def __init__(self, size):
        self.parent = list(range(size))

    def find(self, i):
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a, b):
        self.parent[self.find(a)] = self.find(b)


def _calibrated_extent(tensor):
    """The largest calibrated magnitude, or None if not calibrated."""
    quantization = tensor.Quantization()
    if quantization is None or not quantization.MinLength():
        return None
    extent = np.concatenate(
        [np.abs(quantization.MinAsNumpy()), np.abs(quantization.MaxAsNumpy())]
    )
    return float(np.max(extent))


def check_device_ops(model_content):
    """Raises ValueError naming ops no device interpreter here has.

    A device runs TFLite builtins and, registered from tensorflow_text,
    TF Text's TFLite ops. Flex ops (Select TF) are missing from the pip
    LiteRT interpreters (google-ai-edge/LiteRT#6458), and any other
    custom op has no kernel at all.
    """
    unknown = sorted(
        {
            op
            for ops in op_check.tflite_ops(model_content).values()
            for op in ops
            if op_check.is_custom(op)
            and op_check.custom_name(op) not in op_check.TF_TEXT_TFLITE_OPS
        }
    )
    if unknown:
        raise ValueError(
            "The TFLite model needs ops that neither TFLite's builtins nor "
            f"TF Text's TFLite kernels provide: {', '.join(unknown)}. "
            "Flex (Select TF) ops do not run in the pip LiteRT interpreters; "
            "rewrite the model's graph with builtin ops (a custom op named "
            "after a TensorFlow op is one the converter could not lower)."
        )


@dataclasses.dataclass
class TfliteExport:
    """What `export_tflite` wrote.

    Attributes:
        path: str. The `.tflite` file.
        report: dict or None. The parity report (see
            `mmkeras.export.parity.parity_report`), when measured.
        report_path: str or None. The report as JSON, beside the file.
    """

    path: str
    report: dict = None
    report_path: str = None


def export_tflite(task, path, quantize="none", calibration=(), held_out=None):
    """Converts a task's device signatures and writes a `.tflite` file.

    The task is rebuilt in float32 first if it was trained under mixed
    precision (`float32_task`). The batch dimension of every input stays
    resizable. The file appears atomically (written beside, then renamed).
    With `held_out` records, every variant is converted and measured
    against the Keras task (`parity.parity_report`); the report is written
    as JSON beside the file (`<name>.parity.json`).

    Args:
        task: an `mmkeras.models.Task` with `device_signatures()`.
        path: str. The `.tflite` file to write; for `mmkeras-model-server
            --prefer_tflite_model`, `<base>/<name>/<version>/model.tflite`
            beside the version's SavedModel.
        quantize: one of `QUANTIZATIONS`; see `convert`.
        calibration: list of dicts of device inputs (int8), e.g. from
            `calibration_samples(task, records)`. Without it the report
            leaves out int8.
        held_out: list of manifest records with targets, or None.

    Returns:
        A `TfliteExport`.

    Raises:
        ValueError: if the task refuses `quantize`
            (`task.unsupported_quantizations()`); the report leaves out
            what it refuses.
    """
    from mmkeras.export import parity

    unsupported = task.unsupported_quantizations()
    if quantize in unsupported:
        raise ValueError(
            f"{type(task).__name__} does not export {quantize}: "
            f"{unsupported[quantize]}"
        )
    wanted = [quantize]
    if held_out is not None:
        wanted = [q for q in QUANTIZATIONS if q not in unsupported]
    # Calibration samples are device inputs made from records: only
    # int8 reads them.
    calibration = list(calibration) if "int8" in wanted else []
    if held_out is not None:
        wanted = [q for q in wanted if q != "int8" or calibration]
        wanted += [quantize] if quantize not in wanted else []
    with tempfile.TemporaryDirectory() as temp_dir:
        saved_model_dir = os.path.join(temp_dir, "device")
        keys = write_device_saved_model(float32_task(task), saved_model_dir)
        models = {
            q: convert(saved_model_dir, keys, q, calibration) for q in wanted
        }
        write_atomically(path, models[quantize])
        if held_out is None:
            return TfliteExport(path)
        report = parity.parity_report(task, models, held_out, saved_model_dir)
    report["written"] = {"quantize": quantize, "path": path}
    report_path = os.path.splitext(path)[0] + ".parity.json"
    write_atomically(
        report_path, (json.dumps(report, indent=2) + "\n").encode()
    )
    return TfliteExport(path, report, report_path)


def write_atomically(path, content):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temp_path = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(content)
        os.replace(temp_path, path)
    finally:
        if os.path.exists(temp_path):
            os.remove(temp_path)


def calibration_samples(task, records, limit=CALIBRATION_EXAMPLES):
    """Device inputs of up to `limit` examples, one at a time (numpy).

    Args:
        task: the `Task` being converted.
        records: list of manifest records or a packed split.
        limit: int.
    """
    from mmkeras.data.pipeline import raw_dataset

    if isinstance(records, (list, tuple)):
        records = list(records)[:limit]
    modalities = task.preprocessor.modalities
    raw = raw_dataset(records, modalities, target_fields=()).take(limit)
    for example in raw.batch(1).as_numpy_iterator():
        inputs = task.device_inputs(example)
        yield {name: np.asarray(value) for name, value in inputs.items()}
