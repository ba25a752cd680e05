"""PredictionService.GetModelMetadata: a servable's SignatureDefs.

Like TensorFlow Serving, the only metadata field is "signature_def"; the
answer is a SignatureDefMap packed into a `google.protobuf.Any` under that
key, with the model_spec naming the servable that answered.
"""

from tensorflow_serving.apis import get_model_metadata_pb2

from serving.server import errors
from serving.server import model_spec

SIGNATURE_DEF_FIELD = "signature_def"


def get_model_metadata(manager, request):
    """Answers a GetModelMetadataRequest.

    Raises:
        ServingError: INVALID_ARGUMENT for a missing model_spec or an
            unsupported metadata field, NOT_FOUND for an unknown servable.
    """
    model_spec.require(request)
    _check_metadata_fields(request.metadata_field)
    servable = manager.resolve(request.model_spec)

    signature_def_map = get_model_metadata_pb2.SignatureDefMap()
    for key, signature_def in servable.signature_defs.items():
        signature_def_map.signature_def[key].CopyFrom(signature_def)

    response = get_model_metadata_pb2.GetModelMetadataResponse()
    model_spec.fill(response.model_spec, servable)
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_def_map)
    return response


def _check_metadata_fields(metadata_fields):
    if not metadata_fields:
        raise errors.invalid_argument(
            "GetModelMetadataRequest must specify at least one metadata_field"
        )
    for field in metadata_fields:
        if field != SIGNATURE_DEF_FIELD:
            raise errors.invalid_argument(
                f"Metadata field {field} is not supported"
            )
