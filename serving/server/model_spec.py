"""Reading and writing the `ModelSpec` that every request and response has."""

from serving.server import errors


def require(request):
    """Rejects a request without a model_spec, as TensorFlow Serving does."""
    if not request.HasField("model_spec"):
        raise errors.invalid_argument("Missing ModelSpec")


def fill(model_spec, servable, signature_name=None):
    """Writes the servable's name and version (and signature) into a spec.

    The version is the one that actually answered, so a client that asked
    for the latest version learns which number that was.
    """
    model_spec.name = servable.name
    model_spec.version.value = servable.version
    if signature_name is not None:
        model_spec.signature_name = signature_name
