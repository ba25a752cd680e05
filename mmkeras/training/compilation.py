"""Choosing whether a training step compiles under XLA.

`jit_compile="auto"` follows what was measured side by side:

- on GPUs and TPUs, XLA fuses the many small ops of a transformer step
  into few kernels, and Keras itself turns it on there;
- on CPUs it stays off. On this project's 2-core CPU, under XLA, the
  demo classifier trained at 0.36x and 0.52x its samples/s without
  (`scripts/bench_precision.py`, busy and quiet machine). The reference
  dual encoder measured 0.50x on a busy machine and 2.00x on a quiet one
  (`scripts/bench_train.py`; 1.31x in samples per CPU-second): mixed
  evidence, so no per-model exception yet. Compiling also costs tens of
  seconds before the first step.

"on" and "off" are kept as asked; every shipped task's step compiles
under XLA (`tests/models/test_xla.py`).
"""

import dataclasses

import tensorflow as tf

JIT_COMPILE = ("auto", "on", "off")


@dataclasses.dataclass(frozen=True)
class CompileChoice:
    """Whether to compile the step under XLA, and why."""

    jit_compile: bool
    reason: str


def choose_jit_compile(jit_compile="auto"):
    """`jit_compile` ("auto", "on", "off") as a bool for `Model.compile`,
    with the reason.

    Example:
    >>> choose_jit_compile("off")
    CompileChoice(jit_compile=False, reason='asked for')
    """
    if jit_compile not in JIT_COMPILE:
        raise ValueError(
            f"jit_compile must be one of {', '.join(JIT_COMPILE)}; received "
            f"{jit_compile!r}."
        )
    if jit_compile != "auto":
        return CompileChoice(jit_compile == "on", "asked for")
    accelerators = tf.config.list_physical_devices("GPU") + (
        tf.config.list_logical_devices("TPU")
    )
    if accelerators:
        return CompileChoice(
            True, "XLA fuses the step's small ops on the accelerator"
        )
    return CompileChoice(
        False, "on CPU the shipped tasks measured no faster under XLA"
    )
