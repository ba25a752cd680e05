"""Parsing REST URLs the way TensorFlow Serving does.

    GET  /v1/models/NAME[/versions/N | /labels/L]            -> status
    GET  /v1/models/NAME[/versions/N | /labels/L]/metadata   -> metadata
    POST /v1/models/NAME[/versions/N | /labels/L]:VERB       -> predict,
                                                   classify or regress

Matching is case-insensitive and on the still percent-encoded path; the
model name and label are then percent-decoded, so a name may contain "/"
as %2F. Any other path under /v1/ is INVALID_ARGUMENT "Malformed request"
(HTTP 400), as in TensorFlow Serving.
"""

import dataclasses
import re
from urllib.parse import unquote

from serving.server import errors

API_PREFIX = "/v1/"
_SPEC = r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?"
_PREDICTION_PATH = re.compile(
    _SPEC + r":(classify|regress|predict)", re.IGNORECASE | re.ASCII
)
_MODEL_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?"
    r"(?:/(metadata))?",
    re.IGNORECASE | re.ASCII,
)
_MAX_INT64 = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class Route:
    """What a REST URL asks for.

    Args:
        verb: str. "status", "metadata", "predict", "classify" or "regress".
        model_name: str. Percent-decoded model name.
        version: int | None. The version in the URL, if any.
        label: str | None. The version label in the URL, if any.
    """

    verb: str
    model_name: str
    version: int | None = None
    label: str | None = None

    def fill(self, model_spec):
        """Writes name, version or label into a request's ModelSpec."""
        model_spec.name = self.model_name
        if self.version is not None:
            model_spec.version.value = self.version
        if self.label is not None:
            model_spec.version_label = self.label


def is_api_path(path):
    """True for paths TensorFlow Serving's REST handler answers (/v1/...)."""
    return path[: len(API_PREFIX)].lower() == API_PREFIX


def parse(http_method, path):
    """Parses a request line into a Route.

    Args:
        http_method: str. "GET" or "POST".
        path: str. The URL path, percent-encoded, without the query.

    Raises:
        ServingError: INVALID_ARGUMENT for a path or method the API does
            not have, a missing model name, or a version beyond int64.
    """
    match = None
    if http_method == "POST":
        match = _PREDICTION_PATH.fullmatch(path)
    elif http_method == "GET":
        match = _MODEL_PATH.fullmatch(path)
    if match is None:
        raise errors.invalid_argument(
            f"Malformed request: {http_method} {path}"
        )
    name, version, label, verb = match.groups()
    if not name:
        raise errors.invalid_argument("Missing model name in request.")
    return Route(
        verb=(verb or "status").lower(),
        model_name=unquote(name),
        version=_version_number(version),
        label=unquote(label) if label else None,
    )


def _version_number(text):
    if text is None:
        return None
    number = int(text)
    if number > _MAX_INT64:
        raise errors.invalid_argument(
            f"Failed to convert version: {text} to numeric."
        )
    return number
