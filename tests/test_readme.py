"""The README's code runs as written."""

import pathlib
import re

import keras
import numpy as np

README = pathlib.Path(__file__).parent.parent / "README.md"


def _section_code(title):
    text = README.read_text()
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_three_modalities_in_ten_lines_builds_and_trains():
    code = _section_code("Three modalities in ten lines")
    assert len([line for line in code.splitlines() if line.strip()]) <= 17
    namespace = {}
    exec(code, namespace)
    model = namespace["model"]
    rng = np.random.default_rng(0)
    batch = 2
    inputs = {
        "images": rng.uniform(-1, 1, (batch, 32, 32, 3)).astype("float32"),
        "token_ids": rng.integers(1, 1000, (batch, 24)).astype("int32"),
        "padding_mask": np.ones((batch, 24), bool),
        "audio_waveform": rng.normal(0, 0.1, (batch, 1600)).astype("float32"),
        "audio_mask": np.ones((batch, 1600), bool),
        "image_present": np.array([True, True]),
        "text_present": np.array([True, False]),
        "audio_present": np.array([False, True]),
    }
    assert sorted(inputs) == sorted(t.name for t in model.inputs)
    history = model.fit(inputs, np.array([0, 4]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    _, weights = model.call_with_modality_weights(inputs)
    # Sorted modalities: audio, image, text; absent ones weigh nothing.
    np.testing.assert_array_equal(np.asarray(weights)[0, 0], 0.0)
    np.testing.assert_array_equal(np.asarray(weights)[1, 2], 0.0)
    assert isinstance(model, keras.Model)
