"""No request balloons the server through the model (issue 10).

A 1.2 MB PNG whose header claims 20000 x 20000 pixels once drove the model
server from 1 GB to 7 GB resident; three at once to 13 GB, never returned.
The flaw was in the exported signature, so the official TF Serving had it
too. Here (with the header alone: the checks read nothing further) a
tiny exported classifier, with the decoders' default limits,
is served by `mmkeras-model-server` and sent what an attacker or a
careless client would send; each is refused with INVALID_ARGUMENT naming
the limit, the server's resident memory (VmRSS) stays within
RSS_GROWTH_BOUND of what it was after normal traffic, and the next normal
request is answered. Then the largest call the limits accept is sent: it
is answered, and costs at most BYTES_PER_ACCEPTED_PIXEL per pixel.
"""

import concurrent.futures
import os

import grpc
import numpy as np
import pytest

from mmkeras.export import export_task
from mmkeras.models import multimodal_classifier
from mmkeras.preprocessing import learn_vocabulary
from mmkeras.remote import predict_raw
from serving.client import PredictionClient
from serving.process import ModelServerProcess
from tests.preprocessing import encoded_media

MODEL_NAME = "bounded"
# Growth of the server's resident memory allowed over all the attacks:
# what gRPC buffers and TensorFlow's caches take for a few requests.
# Decoding any of the crafted images would take gigabytes.
RSS_GROWTH_BOUND = 64 * 2**20
# Decoding (3 bytes per pixel), the float copy (12 per pixel of the image
# in hand) and resizing, for a call right at max_batch_pixels.
BYTES_PER_ACCEPTED_PIXEL = 16


def _rss(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    task = multimodal_classifier(
        ["audio", "image", "text"],
        ["a", "b"],
        vocabulary=learn_vocabulary(["a b"]),
        hidden_dim=8,
        image_size=16,
        clip_seconds=0.25,
    )
    base_path = tmp_path_factory.mktemp("models")
    export_task(task, str(base_path), MODEL_NAME)
    process = ModelServerProcess(
        MODEL_NAME, os.path.join(base_path, MODEL_NAME)
    )
    with process:
        with PredictionClient(process.address, timeout=60) as client:
            yield process, client


def _normal(count=1):
    return {
        "image": [encoded_media.png(encoded_media.grey(32, 32))] * count,
        "text": ["a b"] * count,
        "audio": [encoded_media.wav(np.zeros(2000))] * count,
    }


def _request(client, **raw):
    inputs = {"image": [b""], "text": [""], "audio": [b""]}
    count = len(next(iter(raw.values())))
    inputs = {key: value * count for key, value in inputs.items()}
    inputs.update(raw)
    return predict_raw(client, MODEL_NAME, inputs)


def _refused(client, **raw):
    with pytest.raises(grpc.RpcError) as raised:
        _request(client, **raw)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return raised.value.details()


@pytest.mark.slow
def test_crafted_inputs_are_refused_and_memory_stays_bounded(server):
    process, client = server
    pid = process.process.pid
    for _ in range(3):  # tracing and first allocations happen here
        assert _request(client, **_normal(4))["probabilities"].shape == (4, 2)
    baseline = _rss(pid)
    crafted = encoded_media.png_claiming(20000, 20000)
    largest = encoded_media.png(encoded_media.grey(2048, 2048, 0))
    cases = {
        "crafted PNG": (
            lambda: _refused(client, image=[crafted]),
            "image 0 is 20000x20000 = 400000000 pixels, over the limit of "
            "4194304 (max_pixels)",
        ),
        "three crafted PNGs at once": (
            lambda: _at_once(3, lambda: _refused(client, image=[crafted] * 2)),
            "over the limit of 4194304 (max_pixels)",
        ),
        "truncated PNG header": (
            lambda: _refused(client, image=[crafted[:20]]),
            "image 0 has a truncated PNG header",
        ),
        "WAV claiming 10 hours": (
            lambda: _refused(client, audio=[encoded_media.wav_claiming(36000)]),
            "audio 0 holds 288000000 samples (36000.0 s at 8000 Hz, "
            "1 channels), over the limit of 120000 (max_audio_samples)",
        ),
        "batch of 16 images of 2048x2048, each legal": (
            lambda: _refused(client, image=[largest] * 16),
            "the 16 images of this call hold 67108864 pixels in all, over "
            "the limit of 16777216 (max_batch_pixels)",
        ),
    }
    growth = {}
    for name, (send, message) in cases.items():
        before = _rss(pid)
        details = send()
        growth[name] = (before, _rss(pid))
        assert message in details, name
        assert _request(client, **_normal())["probabilities"].shape == (1, 2)
    refused_growth = _rss(pid) - baseline
    before = _rss(pid)
    answered = _request(client, image=[largest] * 4)  # 4 x 2048^2: the limit
    growth["the largest call accepted, 4 images of 2048x2048"] = (
        before,
        _rss(pid),
    )
    print("\nVmRSS before -> after, MB:")
    for name, (before, after) in growth.items():
        print(f"  {name}: {before / 2**20:.0f} -> {after / 2**20:.0f}")
    assert refused_growth < RSS_GROWTH_BOUND, growth
    assert answered["probabilities"].shape == (4, 2)
    assert _rss(pid) - before < BYTES_PER_ACCEPTED_PIXEL * 4 * 2048**2


def _at_once(count, send):
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        details = list(pool.map(lambda _: send(), range(count)))
    return details[0]
