"""Every input TensorProto is checked before it is decoded."""

import time
import tracemalloc

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2

from serving import tensors
from serving.server import errors
from serving.server import predict
from serving.server import validation
from serving.server.limits import RequestLimits
from serving.server.manager import ModelManager

INVALID = grpc.StatusCode.INVALID_ARGUMENT
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
LIMITS = RequestLimits()


def _proto(dtype=types_pb2.DT_FLOAT, shape=(2,), **fields):
    proto = tensor_pb2.TensorProto(dtype=dtype, **fields)
    for size in shape:
        proto.tensor_shape.dim.add().size = size
    return proto


def _rejection(proto, limits=LIMITS):
    with pytest.raises(errors.ServingError) as raised:
        validation.check_tensor("x", proto, limits)
    return raised.value.code, raised.value.message


@pytest.mark.parametrize(
    "proto, code, fragment",
    [
        (_proto(types_pb2.DT_RESOURCE), INVALID, "dtype resource cannot"),
        (_proto(types_pb2.DT_VARIANT), INVALID, "dtype variant cannot"),
        (_proto(types_pb2.DT_INVALID), INVALID, "DT_INVALID cannot"),
        (_proto(types_pb2.DT_QINT8), INVALID, "qint8 cannot"),
        (_proto(101), INVALID, "cannot be sent"),  # DT_FLOAT_REF
        (_proto(shape=(2, -1)), INVALID, "[2, -1] has a negative dimension"),
        (_proto(shape=(1,) * 33), INVALID, "rank 33, more than"),
        (_proto(shape=(2**31,)), EXHAUSTED, "max_dimension"),
        (_proto(shape=(2**20, 2**10)), EXHAUSTED, "max_tensor_elements"),
        (
            _proto(types_pb2.DT_STRING, shape=(2**25,), string_val=[b"a"]),
            EXHAUSTED,
            "max_string_elements",
        ),
        (
            _proto(shape=(2, 2), float_val=[1.0, 2.0, 3.0]),
            INVALID,
            "float_val has 3 values but a float32 tensor of shape [2, 2] "
            "takes 0 or 1 or 4",
        ),
        (_proto(shape=(0,), float_val=[1.0]), INVALID, "takes 0 "),
        (_proto(float_val=[1.0], int_val=[1]), INVALID, "also set int_val"),
        (
            _proto(tensor_content=b"\0" * 12),
            INVALID,
            "tensor_content has 12 bytes but a float32 tensor of shape [2] "
            "needs 8",
        ),
        (
            _proto(tensor_content=b"\0" * 8, float_val=[1.0]),
            INVALID,
            "also set float_val",
        ),
        (
            _proto(types_pb2.DT_STRING, tensor_content=b"ab"),
            INVALID,
            "string_val, not tensor_content",
        ),
        (
            _proto(types_pb2.DT_COMPLEX64, scomplex_val=[1.0]),
            INVALID,
            "takes 0 or 2 or 4",
        ),
    ],
)
def test_bad_tensors_are_rejected_with_code_and_reason(proto, code, fragment):
    received_code, message = _rejection(proto)

    assert received_code == code
    assert fragment in message
    if code == INVALID:
        assert message.startswith("tensor parsing error: x. ")


@pytest.mark.parametrize(
    "proto",
    [
        _proto(float_val=[]),  # zeros, as TensorFlow allows
        _proto(float_val=[7.0]),  # one value repeated
        _proto(float_val=[1.0, 2.0]),
        _proto(tensor_content=b"\0" * 8),
        _proto(shape=(), float_val=[1.0]),
        _proto(shape=(0, 5)),
        _proto(types_pb2.DT_BFLOAT16, half_val=[16256, 16256]),
        _proto(types_pb2.DT_STRING, string_val=[b"a", b"bc"]),
        _proto(types_pb2.DT_COMPLEX128, dcomplex_val=[1.0, 2.0]),
        _proto(types_pb2.DT_UINT64, uint64_val=[2**64 - 1, 0]),
    ],
)
def test_consistent_tensors_pass_and_decode(proto):
    validation.check_tensor("x", proto, LIMITS)

    assert tensors.to_ndarray(proto).shape == tuple(
        dim.size for dim in proto.tensor_shape.dim
    )


def test_all_tensors_together_are_capped():
    protos = {"a": _proto(shape=(100,)), "b": _proto(shape=(100,))}

    with pytest.raises(errors.ServingError) as raised:
        validation.check_tensors(protos, RequestLimits(max_decoded_bytes=600))

    assert raised.value.code == EXHAUSTED
    assert "would take 800 bytes" in raised.value.message


def test_request_byte_cap(model_name, latest_servable):
    manager = ModelManager()
    manager.add(latest_servable)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.inputs["x"].CopyFrom(tensors.to_tensor_proto(np.ones((64, 2))))

    with pytest.raises(errors.ServingError) as raised:
        predict.predict(manager, request, RequestLimits(max_request_bytes=512))

    assert raised.value.code == EXHAUSTED
    assert "max_request_bytes" in raised.value.message


def _huge_claim(model_name, shape=(2**40,)):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.inputs["text"].CopyFrom(tensors.to_tensor_proto(["a"]))
    request.inputs["x"].CopyFrom(_proto(shape=shape, float_val=[1.0]))
    return request


@pytest.mark.parametrize("shape", [(2**40,), (2**30, 2)])
def test_small_proto_claiming_a_huge_shape_is_rejected_without_allocating(
    model_name, latest_servable, shape
):
    manager = ModelManager()
    manager.add(latest_servable)
    tracemalloc.start()
    try:
        with pytest.raises(errors.ServingError) as raised:
            predict.predict(manager, _huge_claim(model_name, shape))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert raised.value.code == EXHAUSTED
    assert peak < 1 << 20


def test_huge_claim_over_grpc_is_resource_exhausted_and_fast(
    prediction_stub, model_name, expect_rpc_error
):
    started = time.monotonic()

    with expect_rpc_error(EXHAUSTED, "Input x has shape [1099511627776]"):
        prediction_stub.Predict(_huge_claim(model_name), timeout=30)

    # Not a timing assertion on the server: a generous bound that only an
    # attempted multi-terabyte allocation (or a crash) would break.
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    "proto, code, fragment",
    [
        (_proto(types_pb2.DT_RESOURCE, shape=(1, 2)), INVALID, "resource"),
        (_proto(shape=(1, 2), float_val=[1.0, 2.0, 3.0]), INVALID, "3 values"),
        (_proto(shape=(2**16, 2**16)), EXHAUSTED, "max_tensor_elements"),
    ],
)
def test_bad_tensors_over_grpc_get_their_status(
    prediction_stub, model_name, expect_rpc_error, proto, code, fragment
):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.inputs["text"].CopyFrom(tensors.to_tensor_proto(["a"]))
    request.inputs["x"].CopyFrom(proto)

    with expect_rpc_error(code, fragment):
        prediction_stub.Predict(request, timeout=30)
