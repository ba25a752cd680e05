import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import types_pb2

from serving import tensors


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array([[1, -2]], dtype=np.int64),
        np.array([True, False]),
        np.float16(1.5),
        np.zeros((0, 4), dtype=np.int32),
    ],
)
def test_numpy_arrays_round_trip_with_dtype_and_shape(array):
    decoded = tensors.to_ndarray(tensors.to_tensor_proto(array))

    assert decoded.dtype == array.dtype
    assert decoded.shape == np.shape(array)
    np.testing.assert_array_equal(decoded, array)


@pytest.mark.parametrize(
    "array, field, values",
    [
        (np.array([[1.5, -2.0]], np.float32), "float_val", [1.5, -2.0]),
        (np.array([0.25], np.float64), "double_val", [0.25]),
        (np.array([1.0], np.float16), "half_val", [0x3C00]),
        (np.array([250, 3], np.uint8), "int_val", [250, 3]),
        (np.array([-7], np.int16), "int_val", [-7]),
        (np.array([2**40], np.int64), "int64_val", [2**40]),
        (np.array([2**32 - 1], np.uint32), "uint32_val", [2**32 - 1]),
        (np.array([2**64 - 1], np.uint64), "uint64_val", [2**64 - 1]),
        (np.array([True, False]), "bool_val", [True, False]),
        (np.array([1 + 2j], np.complex64), "scomplex_val", [1.0, 2.0]),
        (np.array([b"a", b"bc"], object), "string_val", [b"a", b"bc"]),
    ],
)
def test_typed_protos_hold_values_where_tensorflow_puts_them(
    array, field, values
):
    proto = tensors.to_typed_tensor_proto(array)

    assert list(getattr(proto, field)) == values
    assert proto.tensor_content == b""
    decoded = tensors.to_ndarray(proto)
    assert decoded.dtype == array.dtype
    np.testing.assert_array_equal(decoded, array)


@pytest.mark.parametrize(
    "value, dtype, shape",
    [
        (1.5, types_pb2.DT_FLOAT, ()),
        (3, types_pb2.DT_INT32, ()),
        ([[1.0, 2.0]], types_pb2.DT_FLOAT, (1, 2)),
        (b"\x89PNG", types_pb2.DT_STRING, ()),
        (["a", "b", "c"], types_pb2.DT_STRING, (3,)),
    ],
)
def test_python_values_follow_tf_constant_conventions(value, dtype, shape):
    proto = tensors.to_tensor_proto(value)

    assert proto.dtype == dtype
    assert tuple(dim.size for dim in proto.tensor_shape.dim) == shape


def test_strings_decode_to_object_arrays_of_utf8_bytes():
    for value in (["héllo", "a"], np.array(["héllo", "a"])):
        decoded = tensors.to_ndarray(tensors.to_tensor_proto(value))

        assert decoded.dtype == object
        assert decoded.tolist() == ["héllo".encode(), b"a"]


def test_decodes_typed_val_fields_padding_with_the_last_value():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    proto.tensor_shape.dim.add(size=2)
    proto.tensor_shape.dim.add(size=2)
    proto.float_val.extend([1.0, 2.0, 3.0])

    decoded = tensors.to_ndarray(proto)

    np.testing.assert_array_equal(decoded, [[1.0, 2.0], [3.0, 3.0]])


def test_decodes_tensor_content():
    proto = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_INT32,
        tensor_content=np.array([7, 8, 9], np.int32).tobytes(),
    )
    proto.tensor_shape.dim.add(size=3)

    np.testing.assert_array_equal(tensors.to_ndarray(proto), [7, 8, 9])


def test_tensor_content_of_the_wrong_length_is_a_value_error():
    proto = tensors.to_tensor_proto(np.ones((2, 2), np.float32))
    proto.tensor_content = proto.tensor_content[:-4]

    with pytest.raises(ValueError, match="has 12 bytes .* needs 16"):
        tensors.to_ndarray(proto)


def test_negative_dimension_and_unknown_rank_are_value_errors():
    negative = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    negative.tensor_shape.dim.add(size=-1)
    unknown_rank = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    unknown_rank.tensor_shape.unknown_rank = True

    with pytest.raises(ValueError, match="negative dimension"):
        tensors.to_ndarray(negative)
    with pytest.raises(ValueError, match="unknown rank"):
        tensors.to_ndarray(unknown_rank)


def test_undecodable_dtypes_are_value_errors():
    for dtype in (types_pb2.DT_INVALID, types_pb2.DT_RESOURCE):
        with pytest.raises(ValueError):
            tensors.to_ndarray(tensor_pb2.TensorProto(dtype=dtype))


def test_ragged_list_is_a_type_error():
    with pytest.raises(TypeError, match="Cannot encode a value of type list"):
        tensors.to_tensor_proto([[1.0, 2.0], [3.0]])


def test_dtype_name_uses_tensorflow_names():
    assert tensors.dtype_name(types_pb2.DT_FLOAT) == "float32"
    assert tensors.dtype_name(types_pb2.DT_STRING) == "string"
    assert tensors.dtype_name(types_pb2.DT_INVALID) == "DT_INVALID"
    assert tensors.dtype_name(999) == "DataType 999"  # not in the enum


def test_non_contiguous_array_keeps_its_logical_order():
    array = np.arange(12, dtype=np.float32).reshape(3, 4).T
    decoded = tensors.to_ndarray(tensors.to_tensor_proto(array))
    np.testing.assert_array_equal(decoded, array)
