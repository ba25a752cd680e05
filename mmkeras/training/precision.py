"""Choosing the dtype policy: mixed precision only where the hardware
computes it natively.

`precision="auto"` picks, with the reason it logs:

- mixed_float16 on CUDA GPUs of compute capability 7.0 or more (tensor
  cores); float32 on older GPUs;
- mixed_bfloat16 on TPUs, and on CPUs with native bfloat16 (the
  `amx_bf16` or `avx512_bf16` CPU flags) while TensorFlow's oneDNN
  kernels, which use them, are on. On a 2-core CPU with AMX,
  `scripts/bench_precision.py` measured the reference dual encoder's fit
  3.57x faster in mixed_bfloat16 than in float32, and the small demo
  classifier's about even (0.94x);
- float32 elsewhere: without native bfloat16 a CPU emulates it (a small
  fit was reported 5x slower on an AVX2-only CPU), and mixed_float16 ran
  at 0.01x on the AMX CPU.
"""

import dataclasses
import logging
import os

import tensorflow as tf

logger = logging.getLogger(__name__)

POLICIES = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
# CPU flags (Linux /proc/cpuinfo names) of native bfloat16 arithmetic.
NATIVE_BFLOAT16_FLAGS = ("amx_bf16", "avx512_bf16")
TENSOR_CORE_CAPABILITY = (7, 0)


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
    """A dtype policy name and why it was chosen."""

    policy: str
    reason: str


def resolve_precision(precision="auto"):
    """Returns a Keras dtype policy name (see `choose_precision`)."""
    return choose_precision(precision).policy


def choose_precision(precision="auto", cpu_flags=None):
    """The dtype policy for `precision` on this machine, with the reason.

    Args:
        precision: "auto", "float32", "mixed_float16" or "mixed_bfloat16".
        cpu_flags: set of str or None. The CPU's feature flags; None reads
            them from `/proc/cpuinfo` (empty where there is none).

    Returns:
        A `PrecisionChoice`.

    Example:
    >>> choose_precision("float32").reason
    'asked for'
    """
    if precision not in POLICIES:
        raise ValueError(
            f"precision must be one of {', '.join(POLICIES)}; received "
            f"{precision!r}."
        )
    if precision != "auto":
        return PrecisionChoice(precision, "asked for")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return _for_gpus(gpus)
    if tf.config.list_logical_devices("TPU"):
        return PrecisionChoice("mixed_bfloat16", "TPUs compute in bfloat16")
    if cpu_flags is None:
        cpu_flags = read_cpu_flags()
    return _for_cpu(cpu_flags, os.environ.get("TF_ENABLE_ONEDNN_OPTS"))


def _for_gpus(gpus):
    capabilities = [
        tf.config.experimental.get_device_details(gpu).get(
            "compute_capability", (0, 0)
        )
        for gpu in gpus
    ]
    lowest = min(capabilities)
    if lowest >= TENSOR_CORE_CAPABILITY:
        return PrecisionChoice(
            "mixed_float16",
            f"GPU compute capability {lowest[0]}.{lowest[1]} has tensor "
            "cores for float16",
        )
    return PrecisionChoice(
        "float32",
        f"GPU compute capability {lowest[0]}.{lowest[1]} is below 7.0: no "
        "float16 tensor cores",
    )


def _for_cpu(cpu_flags, onednn_setting):
    native = [flag for flag in NATIVE_BFLOAT16_FLAGS if flag in cpu_flags]
    if not native:
        return PrecisionChoice(
            "float32",
            "the CPU has no native bfloat16 (no AMX or AVX512_BF16), so "
            "mixed precision would be emulated and slower",
        )
    if onednn_setting == "0":
        return PrecisionChoice(
            "float32",
            f"the CPU has {', '.join(native)}, but TF_ENABLE_ONEDNN_OPTS=0 "
            "turns off the oneDNN kernels that use it",
        )
    return PrecisionChoice(
        "mixed_bfloat16", f"the CPU computes bfloat16 natively ({native[0]})"
    )


def read_cpu_flags(path="/proc/cpuinfo"):
    """The CPU's feature flags, as a set (empty where `path` is absent)."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()
