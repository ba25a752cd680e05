"""Training speed of the reference dual encoder, side by side with
keras-hub's CLIP (issue 12), for `scripts/bench_train.py`.

One process trains, on the same in-memory batches and with the same
optimizer (AdamW) and loss (CLIP's symmetric InfoNCE):

- mmkeras' `DualEncoder` over a `VisionTransformerEncoder` (the image
  tower) and a `TextEncoder`;
- keras-hub's `CLIPBackbone` of the same sizes, in `ClipInfoNCE`, a thin
  model that adds the loss to its logits;
- each of the two again with `jit_compile=True` (XLA).

The models take turns: every round trains each for the same number of
steps (the order rotates), so a change in the machine's load hits all of
them alike; samples/s is the median over rounds. Achieved GFLOP/s is the
FLOPs of one training step, counted from the step's graph
(`graph_flops`), times steps per second, against a large float32 matmul
measured in the same rounds (the roof). The input-pipeline ratio is
`fit` throughput from PNG files and captions, through `make_dataset` and
the task's preprocessor as the trainer reads them, over `fit` throughput
from the same batches cached as tensors.

keras-hub is imported only by `run`: the model builders and the FLOP
counter work without it.
"""

import collections
import dataclasses
import glob
import math
import os
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops

from mmkeras.encoders.text_encoder import TextEncoder
from mmkeras.encoders.vision_transformer_encoder import VisionTransformerEncoder
from mmkeras.models.dual_encoder import DualEncoder

LEARNING_RATE = 1e-3
WEIGHT_DECAY = 0.01
# Goals from issue 12.
SPEEDUP_GOAL = 1.2
ROOF_GOAL = 0.5
PIPELINE_GOAL = 0.9
# Op types that do no arithmetic (data movement, bookkeeping): left out
# of the list of op types `graph_flops` found no count for.
NO_ARITHMETIC = frozenset(
    """AssignAddVariableOp AssignSubVariableOp AssignVariableOp
    BroadcastGradientArgs BroadcastTo Cast ConcatOffset ConcatV2 Const
    ExpandDims Fill GatherV2 Identity InvertPermutation IsFinite LogicalAnd
    LogicalNot LogicalOr MatrixBandPart MatrixDiagPartV3 MatrixDiagV3 NoOp
    Pack Pad Placeholder Range ReadVariableOp Reshape SelectV2 Shape ShapeN
    Slice Squeeze StopGradient StridedSlice StridedSliceGrad Tile Transpose
    FloorMod UnsortedSegmentSum""".split()
)
# Ops that contract (multiply-add) tensors: 2 FLOPs per multiply-add.
CONTRACTIONS = (
    "MatMul",
    "BatchMatMul",
    "BatchMatMulV2",
    "BatchMatMulV3",
    "Einsum",
    "Conv2D",
    "Conv2DBackpropInput",
    "Conv2DBackpropFilter",
)


@dataclasses.dataclass(frozen=True)
class Reference:
    """The sizes of the benchmarked dual encoder (both towers alike)."""

    image_size: int = 64
    patch_size: int = 8
    vocabulary_size: int = 1000
    sequence_length: int = 32
    hidden_dim: int = 128
    num_layers: int = 2
    num_heads: int = 4
    intermediate_dim: int = 512
    embedding_dim: int = 128


REFERENCE = Reference()
# --quick: a smoke test of every path in seconds.
QUICK = Reference(
    image_size=24,
    patch_size=8,
    vocabulary_size=100,
    sequence_length=8,
    hidden_dim=32,
    num_layers=1,
    num_heads=2,
    intermediate_dim=128,
    embedding_dim=32,
)


def reference_parameter_count(ref):
    """The mmkeras model's weights, counted by hand from `ref`."""
    d, mlp = ref.hidden_dim, ref.intermediate_dim
    patches = (ref.image_size // ref.patch_size) ** 2
    block = (
        2 * 2 * d  # two layer norms
        + 4 * (d * d + d)  # query, key, value, output
        + (d * mlp + mlp)
        + (mlp * d + d)  # feed-forward
    )
    tower = ref.num_layers * block + 2 * d  # and the final norm
    image = 3 * ref.patch_size**2 * d + d + patches * d + tower
    text = ref.vocabulary_size * d + ref.sequence_length * d + tower
    projections = 2 * (d * ref.embedding_dim + ref.embedding_dim)
    return image + text + projections + 2  # logit scale and (fixed) bias


def build_mmkeras(ref=REFERENCE, preprocessor=None):
    """mmkeras' `DualEncoder` at `ref`'s sizes, CLIP loss, no dropout."""
    if ref.intermediate_dim != 4 * ref.hidden_dim:
        raise ValueError(
            "VisionTransformerEncoder's MLP is 4 * hidden_dim; the reference "
            f"needs intermediate_dim == {4 * ref.hidden_dim}."
        )
    encoders = {
        "image": VisionTransformerEncoder(
            (ref.image_size, ref.image_size),
            ref.patch_size,
            ref.hidden_dim,
            num_layers=ref.num_layers,
            num_heads=ref.num_heads,
            name="image_encoder",
        ),
        "text": TextEncoder(
            ref.vocabulary_size,
            ref.sequence_length,
            ref.hidden_dim,
            num_layers=ref.num_layers,
            num_heads=ref.num_heads,
            intermediate_dim=ref.intermediate_dim,
            name="text_encoder",
        ),
    }
    return DualEncoder(
        encoders,
        embedding_dim=ref.embedding_dim,
        loss="clip",
        preprocessor=preprocessor,
        name="dual_encoder",
    )


class ClipInfoNCE(keras.Model):
    """keras-hub's `CLIPBackbone` with CLIP's symmetric InfoNCE loss.

    The backbone's outputs are already scaled cosine logits, so the loss
    is the mean of the two directions' cross-entropies with the diagonal
    as target, as `mmkeras.losses.contrastive_loss` computes it.
    """

    def __init__(self, backbone, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone

    def call(self, inputs, training=False):
        return self.backbone(
            {"images": inputs["images"], "token_ids": inputs["token_ids"]},
            training=training,
        )

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        logits = y_pred["vision_logits"]
        labels = tf.range(tf.shape(logits)[0])
        entropy = keras.losses.sparse_categorical_crossentropy
        image_to_text = tf.reduce_mean(entropy(labels, logits, True))
        text_to_image = tf.reduce_mean(
            entropy(labels, y_pred["text_logits"], True)
        )
        return (image_to_text + text_to_image) / 2.0


def build_keras_hub(ref=REFERENCE):
    """keras-hub's CLIP at `ref`'s sizes, with the loss (`ClipInfoNCE`)."""
    import keras_hub

    vision = keras_hub.models.CLIPVisionEncoder(
        patch_size=ref.patch_size,
        hidden_dim=ref.hidden_dim,
        num_layers=ref.num_layers,
        num_heads=ref.num_heads,
        intermediate_dim=ref.intermediate_dim,
        image_shape=(ref.image_size, ref.image_size, 3),
    )
    text = keras_hub.models.CLIPTextEncoder(
        vocabulary_size=ref.vocabulary_size,
        embedding_dim=ref.hidden_dim,
        hidden_dim=ref.hidden_dim,
        num_layers=ref.num_layers,
        num_heads=ref.num_heads,
        intermediate_dim=ref.intermediate_dim,
        max_sequence_length=ref.sequence_length,
    )
    backbone = keras_hub.models.CLIPBackbone(
        vision, text, projection_dim=ref.embedding_dim
    )
    return ClipInfoNCE(backbone, name="clip_infonce")


def compile_for_training(model, jit_compile=False):
    model.compile(
        optimizer=keras.optimizers.AdamW(
            LEARNING_RATE, weight_decay=WEIGHT_DECAY
        ),
        jit_compile=jit_compile,
    )
    return model


def random_batches(ref, batch_size, count=4, seed=0):
    """`count` batches of random images, token ids and padding masks,
    stacked: `(count, batch_size, ...)` numpy arrays."""
    rng = np.random.default_rng(seed)
    shape = (count, batch_size)
    lengths = rng.integers(4, ref.sequence_length + 1, shape)
    positions = np.arange(ref.sequence_length)
    mask = positions < lengths[..., None]
    token_ids = rng.integers(1, ref.vocabulary_size, shape + mask.shape[-1:])
    size = ref.image_size
    return {
        "images": rng.uniform(-1, 1, shape + (size, size, 3)).astype("float32"),
        "token_ids": np.where(mask, token_ids, 0).astype("int32"),
        "padding_mask": mask,
    }


def batch_dataset(batches):
    """An endless dataset cycling through stacked in-memory batches."""
    return (
        tf.data.Dataset.from_tensor_slices(batches)
        .repeat()
        .prefetch(tf.data.AUTOTUNE)
    )


def contraction_flops(op):
    """FLOPs of one matmul, einsum or convolution op (2 per multiply-add),
    from its static shapes; None when a shape is unknown."""
    shapes = [tuple(i.shape) for i in op.inputs]
    out = tuple(op.outputs[0].shape)
    if any(d is None for s in shapes + [out] for d in s):
        return None
    if op.type == "MatMul":
        a = shapes[0]
        inner = a[0] if op.get_attr("transpose_a") else a[1]
        return 2 * math.prod(out) * inner
    if op.type.startswith("BatchMatMul"):
        a = shapes[0]
        inner = a[-2] if op.get_attr("adj_x") else a[-1]
        return 2 * math.prod(out) * inner
    if op.type == "Einsum":
        equation = op.get_attr("equation").decode()
        operands = equation.split("->")[0].split(",")
        if "." in equation:
            return None
        sizes = {}
        for letters, shape in zip(operands, shapes, strict=True):
            sizes.update(zip(letters, shape, strict=True))
        return 2 * math.prod(sizes.values())
    if op.type == "Conv2D":
        kh, kw, cin, _ = shapes[1]
        return 2 * math.prod(out) * kh * kw * cin
    if op.type == "Conv2DBackpropInput":  # out: the input's shape
        kh, kw, cin, cout = shapes[1]
        return 2 * math.prod(shapes[2][:-1]) * kh * kw * cin * cout
    if op.type == "Conv2DBackpropFilter":
        kh, kw, cin, cout = out
        grad = shapes[2]
        return 2 * math.prod(grad[:-1]) * kh * kw * cin * cout
    return None


def _executed_ops(graph):
    """The ops a call of the function runs: those its outputs and
    control outputs depend on (the rest is pruned)."""
    pending = [t.op for t in graph.outputs] + list(graph.control_outputs)
    seen = {}
    while pending:
        op = pending.pop()
        if op.name in seen:
            continue
        seen[op.name] = op
        pending.extend(t.op for t in op.inputs)
        pending.extend(op.control_inputs)
    return list(seen.values())


def _registered_flops(graph, op):
    """TensorFlow's own FLOP statistic for an op (what tf.profiler's
    float_ops sums), or None when the op type has none."""
    try:
        return tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value
    except (ValueError, KeyError, TypeError):
        return None


def graph_flops(graph):
    """FLOPs of one call of a function graph, by op type.

    Contractions (`CONTRACTIONS`) are counted from their shapes by
    `contraction_flops` (TensorFlow registers no count for Einsum);
    every other op by TensorFlow's registered statistic (tf.profiler's
    float_ops), where it has one. Only ops the call runs are counted.

    Returns:
        dict with `total`, `contractions`, `by_type` (op type to FLOPs),
        `tf_matmul` (TensorFlow's own count of the MatMul ops, to check
        ours against) and `uncounted` (op types with neither count).
    """
    by_type = collections.Counter()
    uncounted = collections.Counter()
    tf_matmul = 0
    for op in _executed_ops(graph):
        flops = None
        if op.type in CONTRACTIONS:
            flops = contraction_flops(op)
            if op.type == "MatMul":
                tf_matmul += int(_registered_flops(graph, op) or 0)
        else:
            flops = _registered_flops(graph, op)
        if flops is None:
            uncounted[op.type] += 1
        else:
            by_type[op.type] += int(flops)
    contractions = sum(by_type[t] for t in CONTRACTIONS)
    return {
        "total": sum(by_type.values()),
        "contractions": contractions,
        "by_type": dict(by_type),
        "tf_matmul": tf_matmul,
        "uncounted": dict(uncounted),
    }


def train_step_flops(model, batch):
    """`graph_flops` of one training step of a compiled, built model on
    a batch like `batch` (traced, not run)."""
    step = tf.function(model.train_step)
    return graph_flops(step.get_concrete_function(batch).graph)


def matmul_roof(size, repeats=5):
    """A function measuring float32 GFLOP/s of `repeats` `size x size`
    tf.matmuls (traced and warmed up once, here)."""
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))

    @tf.function
    def product():
        out = tf.zeros((), tf.float32)
        for _ in tf.range(repeats):
            out += tf.reduce_sum(tf.matmul(a, b))
        return out

    product().numpy()

    def measure():
        start = time.perf_counter()
        product().numpy()
        seconds = time.perf_counter() - start
        return 2 * size**3 * repeats / seconds / 1e9

    return measure


def timed_fit(model, dataset, steps, cpu=None):
    """Seconds `model.fit` takes for `steps` steps of `dataset`; with a
    list `cpu`, also appends the CPU seconds this process used (all its
    threads), which other processes' load changes less than wall time."""
    start, start_cpu = time.perf_counter(), time.process_time()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    if cpu is not None:
        cpu.append(time.process_time() - start_cpu)
    return time.perf_counter() - start


def median_iqr(values):
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return median, q3 - q1


def load_average():
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def profile_op_time(model, dataset, steps, directory):
    """Per-op-type time of `steps` training steps (tf.profiler trace).

    Returns:
        `(wall seconds, Counter of op type to summed op seconds)`; ops of
        one step run on several threads at once, so the sum can exceed
        the wall time.
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    model.fit(dataset, steps_per_epoch=1, epochs=1, verbose=0)
    tf.profiler.experimental.start(directory)
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()
    (path,) = glob.glob(
        os.path.join(directory, "**", "*.xplane.pb"), recursive=True
    )
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    seconds = collections.Counter()
    for plane in space.planes:
        names = plane.event_metadata
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = names[event.metadata_id].name
                # "scope/op_name:OpType"; "Class::Method" is the executor.
                if ":" not in name.replace("::", ""):
                    continue
                seconds[_op_type(name)] += event.duration_ps / 1e12
    return wall, seconds


def _op_type(name):
    """The op type of a traced kernel, without oneDNN's prefixes
    (`_MklMatMul`, `_MklNativeConv2DBackpropFilter`)."""
    op_type = name.rsplit(":", 1)[1].lstrip("_")
    return op_type.removeprefix("Mkl").removeprefix("Native")


def _is_contraction(op_type):
    return op_type in CONTRACTIONS or op_type.startswith("Fused")


def write_scene_data(directory, ref, records):
    """A retrieval manifest of at least `records` training pairs (PNG
    scenes with two captions each) at the reference image size."""
    from mmkeras.data.synthetic_scenes import write_retrieval_dataset

    return write_retrieval_dataset(
        directory,
        num_train_images=-(-records // 2),
        num_validation_images=4,
        num_test_images=4,
        captions_per_image=2,
        image_size=ref.image_size,
    )


def scene_preprocessor(ref, captions):
    """The `DualEncoderPreprocessor` the trainer would build, with a
    vocabulary learned from `captions` and padded to the reference size."""
    from mmkeras.preprocessing.dual_encoder_preprocessor import (
        DualEncoderPreprocessor,
    )
    from mmkeras.preprocessing.image_preprocessor import ImagePreprocessor
    from mmkeras.preprocessing.multimodal_preprocessor import (
        MultimodalPreprocessor,
    )
    from mmkeras.preprocessing.vocabulary import learn_vocabulary
    from mmkeras.preprocessing.word_piece_tokenizer import WordPieceTokenizer

    vocabulary = learn_vocabulary(captions, max_size=ref.vocabulary_size)
    vocabulary += [
        f"[unused{i}]" for i in range(ref.vocabulary_size - len(vocabulary))
    ]
    size = (ref.image_size, ref.image_size)
    return DualEncoderPreprocessor(
        MultimodalPreprocessor(
            image_preprocessor=ImagePreprocessor(size),
            tokenizer=WordPieceTokenizer(vocabulary, ref.sequence_length),
        ),
        name="preprocessor",
    )


def file_dataset(task, split, batch_size):
    """Training batches read from files, as `trainer._dataset` makes them
    for retrieval (shuffled, remainder dropped, no augmentation)."""
    from mmkeras.data.pipeline import make_dataset

    return make_dataset(
        split,
        task.preprocessor,
        batch_size,
        modalities=task.modalities,
        target_fields=(task.preprocessor.label_field,),
        shuffle=True,
        seed=0,
        drop_remainder=True,
    )


def cached(dataset, count):
    """The first `count` batches of `dataset` as in-memory tensors,
    cycled."""
    batches = list(dataset.take(count))
    stacked = tf.nest.map_structure(lambda *t: tf.stack(t), *batches)
    return batch_dataset(stacked)


def _rate(values, batch_size, steps):
    return [batch_size * steps / s for s in values]


def _goal(met):
    return "met" if met else "NOT met"


def run(ref, batch_size, steps, rounds, warmup, roof_size, workdir=None):
    """Runs the benchmark and prints its lines; returns the figures."""
    import keras_hub

    owned = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="bench_train_")
    print(
        f"bench_train: TF {tf.__version__}, Keras {keras.__version__}, "
        f"keras-hub {keras_hub.__version__}, {os.cpu_count()} CPUs, float32"
    )
    print(
        f"reference: images {ref.image_size}x{ref.image_size}x3 patch "
        f"{ref.patch_size}, vocabulary {ref.vocabulary_size}, "
        f"{ref.sequence_length} tokens, width {ref.hidden_dim}, "
        f"{ref.num_layers} layers, {ref.num_heads} heads, MLP "
        f"{ref.intermediate_dim}, projection {ref.embedding_dim}; batch "
        f"{batch_size}, AdamW, CLIP InfoNCE; {rounds} rounds x {steps} "
        f"steps per model after {warmup} warmup steps"
    )
    print(f"at start: {load_average()}")

    # The file data first: the mmkeras model carries its preprocessor.
    from mmkeras.training.retrieval import read_pairs

    summary = write_scene_data(
        os.path.join(workdir, "scenes"), ref, batch_size * steps
    )
    split = read_pairs(summary.manifest_path).split("train")
    captions = [record["text"] for record in split]
    preprocessor = scene_preprocessor(ref, captions)

    builders = {
        "mmkeras": lambda: build_mmkeras(ref, preprocessor),
        "keras-hub": lambda: build_keras_hub(ref),
    }
    models = {}
    for name, build in builders.items():
        models[name] = compile_for_training(build())
        models[f"{name} XLA"] = compile_for_training(build(), jit_compile=True)
    batches = random_batches(ref, batch_size)
    dataset = batch_dataset(batches)
    one_batch = {k: tf.constant(v[0]) for k, v in batches.items()}
    failed = {}
    for name, model in list(models.items()):
        try:
            model.fit(dataset, steps_per_epoch=warmup, epochs=1, verbose=0)
        except Exception as error:  # XLA may not compile a model
            failed[name] = f"{type(error).__name__}: {str(error)[:200]}"
            del models[name]
    for name, error in failed.items():
        print(f"{name}: failed to train: {error}")

    flops = {}
    for name in builders:
        model = models[name]
        counted = train_step_flops(model, one_batch)
        flops[name] = counted["total"]
        uncounted = sorted(set(counted["uncounted"]) - NO_ARITHMETIC)
        print(
            f"{name}: {model.count_params():,} parameters; one training "
            f"step = {counted['total'] / 1e9:.2f} GFLOP counted from its "
            f"graph ({100 * counted['contractions'] / counted['total']:.1f}"
            "% in matmuls/einsums/convolutions; our MatMul count "
            f"{counted['by_type'].get('MatMul', 0) / 1e9:.3f} G vs "
            f"TensorFlow's {counted['tf_matmul'] / 1e9:.3f} G; arithmetic "
            f"op types without a count: {', '.join(uncounted) or 'none'})"
        )
    for name in list(models):
        flops.setdefault(name, flops[name.split(" ")[0]])

    # Rounds: each model trains `steps` steps in turn; the roof is
    # measured in every round too.
    seconds = {name: [] for name in models}
    cpu_seconds = {name: [] for name in models}
    measure_roof = matmul_roof(roof_size)
    roofs = []
    names = list(models)
    for index in range(rounds):
        order = names[index % len(names) :] + names[: index % len(names)]
        for name in order:
            seconds[name].append(
                timed_fit(models[name], dataset, steps, cpu_seconds[name])
            )
        roofs.append(measure_roof())
    roof, roof_iqr = median_iqr(roofs)
    print(
        f"roof: float32 tf.matmul {roof_size}x{roof_size}: "
        f"{roof:.1f} GFLOP/s (median of {rounds}, IQR {roof_iqr:.1f})"
    )
    results = {}
    for name in names:
        rates = _rate(seconds[name], batch_size, steps)
        gflops = [flops[name] * steps / s / 1e9 for s in seconds[name]]
        rate, rate_iqr = median_iqr(rates)
        achieved, _ = median_iqr(gflops)
        cpu_rate = np.median(_rate(cpu_seconds[name], batch_size, steps))
        results[name] = dict(rate=rate, gflops=achieved, cpu_rate=cpu_rate)
        print(
            f"{name:>13}: {rate:7.1f} samples/s (median, IQR {rate_iqr:.1f}, "
            f"best round {max(rates):.1f})  {achieved:6.1f} GFLOP/s = "
            f"{100 * achieved / roof:5.1f}% of the matmul roof; "
            f"{cpu_rate:.1f} samples per CPU-second"
        )
    ratio = results["mmkeras"]["rate"] / results["keras-hub"]["rate"]
    per_round = [
        a / b
        for a, b in zip(
            _rate(seconds["mmkeras"], batch_size, steps),
            _rate(seconds["keras-hub"], batch_size, steps),
            strict=True,
        )
    ]
    cpu_ratio = (
        results["mmkeras"]["cpu_rate"] / results["keras-hub"]["cpu_rate"]
    )
    print(
        f"ratio mmkeras/keras-hub: {ratio:.2f}x of the medians (same-round "
        f"ratios: median {np.median(per_round):.2f}x, range "
        f"{min(per_round):.2f}-{max(per_round):.2f}); per CPU-second "
        f"{cpu_ratio:.2f}x"
    )
    for name in builders:
        if f"{name} XLA" in results:
            change = results[f"{name} XLA"]["rate"] / results[name]["rate"]
            print(
                f"XLA (jit_compile=True) on {name}: "
                f"{results[name]['rate']:.1f} -> "
                f"{results[f'{name} XLA']['rate']:.1f} samples/s "
                f"({change:.2f}x)"
            )
        else:
            print(f"XLA (jit_compile=True) on {name}: did not train")

    # Input pipeline: the same model (mmkeras, no XLA), from files and
    # from the same batches cached in memory, taking turns.
    task = models["mmkeras"]
    from_files = file_dataset(task, split, batch_size)
    from_memory = cached(from_files, steps)
    # An epoch of the files is `steps` batches: warm up within it.
    for data in (from_files, from_memory):
        task.fit(data, steps_per_epoch=min(warmup, steps), verbose=0)
    pipe = {"files": [], "memory": []}
    for index in range(rounds):
        pair = [("files", from_files), ("memory", from_memory)]
        for kind, data in pair[index % 2 :] + pair[: index % 2]:
            pipe[kind].append(timed_fit(task, data, steps))
    file_rate, file_iqr = median_iqr(_rate(pipe["files"], batch_size, steps))
    memory_rate, memory_iqr = median_iqr(
        _rate(pipe["memory"], batch_size, steps)
    )
    pipeline_ratio = file_rate / memory_rate
    alone = []  # the file pipeline with no training beside it
    for _ in range(rounds):
        start = time.perf_counter()
        count = sum(1 for _ in from_files.take(steps))
        alone.append(batch_size * count / (time.perf_counter() - start))
    print(
        f"input pipeline (mmkeras fit, {len(split)} PNG+caption pairs via "
        f"make_dataset and the task's preprocessor): {file_rate:.1f} "
        f"samples/s (IQR {file_iqr:.1f}) from files vs {memory_rate:.1f} "
        f"(IQR {memory_iqr:.1f}) from cached tensors = {pipeline_ratio:.2f}"
    )
    print(
        "input pipeline alone (iterating the file dataset, no training): "
        f"{np.median(alone):.1f} samples/s (median)"
    )

    # Where the time goes: a trace of a few steps of each model.
    for name in builders:
        profiled = max(2, min(steps, 5))
        wall, op_seconds = profile_op_time(
            models[name],
            dataset,
            profiled,
            os.path.join(workdir, f"trace_{name}"),
        )
        total = sum(op_seconds.values())
        contraction = sum(
            s for t, s in op_seconds.items() if _is_contraction(t)
        )
        top = ", ".join(
            f"{t} {1000 * s / profiled:.0f}"
            for t, s in op_seconds.most_common(8)
        )
        print(
            f"profile {name} (tf.profiler, {profiled} steps): "
            f"{wall / profiled:.2f} s/step wall, op time "
            f"{total / profiled:.2f} s/step summed over threads, "
            f"{100 * contraction / total:.0f}% in matmul/einsum/conv; "
            f"ms/step: {top}"
        )

    roof_share = results["mmkeras"]["gflops"] / roof
    print(f"at end: {load_average()}")
    print(
        f"goal mmkeras >= {SPEEDUP_GOAL}x keras-hub: "
        f"{_goal(ratio >= SPEEDUP_GOAL)} ({ratio:.3f}x)"
    )
    print(
        f"goal mmkeras >= {100 * ROOF_GOAL:.0f}% of the matmul roof: "
        f"{_goal(roof_share >= ROOF_GOAL)} ({100 * roof_share:.2f}%)"
    )
    print(
        f"goal input-pipeline ratio >= {PIPELINE_GOAL}: "
        f"{_goal(pipeline_ratio >= PIPELINE_GOAL)} ({pipeline_ratio:.3f})"
    )
    if owned:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return dict(
        results=results,
        ratio=ratio,
        roof=roof,
        roof_share=roof_share,
        pipeline_ratio=pipeline_ratio,
    )
