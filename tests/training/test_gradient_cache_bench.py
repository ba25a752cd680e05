"""The gradient caching benchmark's library, on tiny sizes."""

from mmkeras.training import gradient_cache_bench as bench

TINY = dict(batch_size=6, image_size=16, sequence_length=6, hidden_dim=8)


def test_memory_is_measured_around_training_steps():
    peaks = bench.measure_memory(4, steps=1, **TINY)
    assert peaks["run_peak_mb"] >= peaks["step_peak_mb"] >= 0


def test_the_peak_resets_to_the_resident_size():
    bench.reset_peak_memory()
    status = bench.memory_status()
    assert 0 <= status["VmHWM"] - status["VmRSS"] < 1024  # KiB


def test_the_table_puts_each_figure_beside_its_ratio_to_the_full_batch():
    def row(chunk, speed, peak):
        return {
            "chunk_size": chunk,
            "samples_per_second": speed,
            "quartiles": [speed - 1, speed + 1],
            "run_peak_mb": peak,
            "step_peak_mb": peak / 2,
        }

    table = bench.format_table([row(None, 100.0, 400.0), row(32, 75.0, 100.0)])
    header, _, full, chunked = table.splitlines()
    assert header.count("x full") == 3
    assert full.split()[:2] == ["full", "batch"]
    assert full.split().count("1.00x") == 3
    assert chunked.split()[3:] == [
        "75.0",
        "0.75x",
        "100",
        "0.25x",
        "50",
        "0.25x",
        "74-76",
    ]
