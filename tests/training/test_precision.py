"""`precision="auto"`: the policy each kind of hardware gets, and why."""

import pytest
import tensorflow as tf

from mmkeras.training.precision import choose_precision
from mmkeras.training.precision import read_cpu_flags
from mmkeras.training.precision import resolve_precision


def test_a_cpu_with_native_bfloat16_trains_in_mixed_bfloat16(monkeypatch):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    for flags in ({"avx2", "amx_bf16", "amx_tile"}, {"avx512_bf16"}):
        choice = choose_precision("auto", cpu_flags=flags)
        assert choice.policy == "mixed_bfloat16"
        assert "natively" in choice.reason


def test_a_cpu_without_native_bfloat16_stays_in_float32(monkeypatch):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    choice = choose_precision("auto", cpu_flags={"avx2", "fma", "avx512f"})
    assert choice.policy == "float32"
    assert "no native bfloat16" in choice.reason


def test_without_onednn_the_native_bfloat16_is_unused(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    choice = choose_precision("auto", cpu_flags={"amx_bf16"})
    assert choice.policy == "float32"
    assert "TF_ENABLE_ONEDNN_OPTS=0" in choice.reason


def test_a_named_policy_is_kept_and_a_wrong_one_is_named():
    assert resolve_precision("mixed_float16") == "mixed_float16"
    with pytest.raises(ValueError, match="received 'bf16'"):
        choose_precision("bf16")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\nbugs\t\t: spectre\n"
    )
    assert read_cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "amx_bf16"}
    assert read_cpu_flags(str(tmp_path / "absent")) == set()


def test_jit_compile_auto_is_off_on_this_cpu_and_named_values_are_kept():
    from mmkeras.training.compilation import choose_jit_compile

    if not tf.config.list_physical_devices("GPU"):
        choice = choose_jit_compile("auto")
        assert choice.jit_compile is False and "CPU" in choice.reason
    assert choose_jit_compile("on").jit_compile is True
    assert choose_jit_compile("off").jit_compile is False
    with pytest.raises(ValueError, match="received 'yes'"):
        choose_jit_compile("yes")
