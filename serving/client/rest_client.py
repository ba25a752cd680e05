"""A client for TensorFlow Serving's REST API, with numpy in and out.

Inputs are written as JSON the way TensorFlow Serving reads them: numpy
arrays and lists as nested lists, `bytes` as {"b64": "..."}, `str` as
text. Outputs come back as numpy arrays; strings (text or base64) as
object arrays of `bytes`, like the gRPC client. JSON carries no dtype, so
numbers come back as float64/int64 whatever the model's dtype.

TensorFlow Serving leaves out the name of a signature's only output, so
`predict` returns a bare array for such signatures and a dict otherwise.
A failed call raises `RestError` with the HTTP status and the server's
"error" text.
"""

import base64
from urllib.parse import quote

import grpc
import numpy as np
import requests
from tensorflow.core.framework import types_pb2

from serving import tensors
from serving.client.grpc_client import DEFAULT_TIMEOUT_SECONDS
from serving.client.grpc_client import SIGNATURE_DEF_FIELD

B64_KEY = "b64"


class RestError(Exception):
    """A REST call the server answered with an error.

    Args:
        status: int. The HTTP status, e.g. 404.
        message: str. The server's "error" text (or raw body).
    """

    def __init__(self, status, message):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class RestClient:
    """Calls :predict, /metadata and model status over HTTP(S).

    Args:
        base_url: str. E.g. "http://127.0.0.1:8501".
        timeout: float. Default seconds to wait for each call; each method
            also takes its own `timeout`.
        token: str | None. Sent as `Authorization: Bearer <token>`.
        verify: bool | str. For https: verify the server certificate
            (True), against a CA bundle file (path), or not at all (False).
        cert: str | (str, str) | None. Client certificate (and key) files
            for mutual TLS.

    Example:

    ```python
    with RestClient("http://127.0.0.1:8501") as client:
        outputs = client.predict("toy", {"text": ["a cat"], "x": x})
    ```
    """

    def __init__(
        self,
        base_url,
        timeout=DEFAULT_TIMEOUT_SECONDS,
        token=None,
        verify=True,
        cert=None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # Passed with each call: requests lets environment variables such
        # as REQUESTS_CA_BUNDLE override a Session's own `verify`.
        self._verify = verify
        self._cert = cert
        # A Session keeps connections alive between calls.
        self._session = requests.Session()
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def predict(
        self,
        model_name,
        inputs,
        signature_name=None,
        version=None,
        label=None,
        row_format=False,
        timeout=None,
    ):
        """Runs a signature.

        Args:
            model_name: str. The served model's name.
            inputs: dict[str, value] (one per input), or the value of the
                signature's only input. Values: np.ndarray, list, scalar,
                bytes or str.
            signature_name: str | None. None: the default signature.
            version: int | None. A specific version.
            label: str | None. A version label (not with `version`).
            row_format: bool. Send "instances" (rows, split along the first
                dimension) instead of columnar "inputs".
            timeout: float | None. This call's timeout; None: the client's.

        Returns:
            dict[str, np.ndarray], or np.ndarray for a lone output.
        """
        body = _predict_body(inputs, signature_name, row_format)
        path = _model_path(model_name, version, label) + ":predict"
        answer = self._request("POST", path, body, timeout)
        if row_format:
            return _from_rows(answer["predictions"])
        outputs = answer["outputs"]
        if isinstance(outputs, dict) and not _is_b64(outputs):
            return {name: _to_array(value) for name, value in outputs.items()}
        return _to_array(outputs)

    def metadata(self, model_name, version=None, label=None, timeout=None):
        """Describes the signatures, in `PredictionClient.metadata`'s form."""
        path = _model_path(model_name, version, label) + "/metadata"
        answer = self._request("GET", path, None, timeout)
        signature_defs = answer["metadata"][SIGNATURE_DEF_FIELD]
        return {
            name: {
                "inputs": _describe(signature_def.get("inputs", {})),
                "outputs": _describe(signature_def.get("outputs", {})),
            }
            for name, signature_def in signature_defs.get(
                SIGNATURE_DEF_FIELD, {}
            ).items()
        }

    def status(self, model_name, version=None, label=None, timeout=None):
        """Version states, in `PredictionClient.status`'s form."""
        path = _model_path(model_name, version, label)
        answer = self._request("GET", path, None, timeout)
        return [
            dict(
                version=int(entry["version"]),
                state=entry["state"],
                error_code=grpc.StatusCode[
                    entry.get("status", {}).get("error_code", "OK")
                ].value[0],
                error_message=entry.get("status", {}).get("error_message", ""),
            )
            for entry in answer["model_version_status"]
        ]

    def close(self):
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _request(self, method, path, body, timeout):
        response = self._session.request(
            method,
            self.base_url + path,
            json=body,
            timeout=self.timeout if timeout is None else timeout,
            verify=self._verify,
            cert=self._cert,
        )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code != 200:
            message = (
                answer.get("error", response.text)
                if isinstance(answer, dict)
                else response.text
            )
            raise RestError(response.status_code, message)
        return answer


def _model_path(model_name, version, label):
    if version is not None and label is not None:
        raise ValueError(
            f"Pass a version ({version}) or a label ({label!r}), not both."
        )
    path = f"/v1/models/{quote(model_name, safe='')}"
    if version is not None:
        path += f"/versions/{int(version)}"
    if label is not None:
        path += f"/labels/{quote(label, safe='')}"
    return path


def _predict_body(inputs, signature_name, row_format):
    body = {} if signature_name is None else {"signature_name": signature_name}
    if not row_format:
        if isinstance(inputs, dict):
            body["inputs"] = {n: _to_json(v) for n, v in inputs.items()}
        else:
            body["inputs"] = _to_json(inputs)
        return body
    if isinstance(inputs, dict):
        columns = {name: _to_json(value) for name, value in inputs.items()}
        sizes = {len(column) for column in columns.values()}
        if len(sizes) != 1:
            raise ValueError(
                "Row format needs every input to have the same first "
                f"dimension; got sizes {sorted(sizes)}. Use row_format=False."
            )
        body["instances"] = [
            {name: column[i] for name, column in columns.items()}
            for i in range(sizes.pop())
        ]
    else:
        body["instances"] = _to_json(inputs)
    return body


def _to_json(value):
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value.tolist()
    if isinstance(value, bytes):
        return {B64_KEY: base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.ndarray | list | tuple):
        return [_to_json(item) for item in value]
    if isinstance(value, np.generic):
        return _to_json(value.item())
    return value


def _is_b64(value):
    return isinstance(value, dict) and set(value) == {B64_KEY}


def _from_json(value):
    if _is_b64(value):
        return base64.b64decode(value[B64_KEY])
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    return value


def _to_array(value):
    decoded = _from_json(value)
    if _holds_bytes(decoded):
        return np.array(decoded, dtype=object)
    return np.asarray(decoded)


def _holds_bytes(value):
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, bytes)


def _from_rows(predictions):
    if predictions and isinstance(predictions[0], dict):
        if not _is_b64(predictions[0]):
            return {
                name: _to_array([row[name] for row in predictions])
                for name in predictions[0]
            }
    return _to_array(predictions)


def _describe(tensor_infos):
    return {
        name: (_dtype_name(info.get("dtype")), _shape(info.get("tensor_shape")))
        for name, info in tensor_infos.items()
    }


def _dtype_name(enum_name):
    return tensors.dtype_name(
        types_pb2.DataType.Value(enum_name or "DT_INVALID")
    )


def _shape(shape):
    if shape is None or shape.get("unknown_rank"):
        return None
    return tuple(int(dim.get("size", 0)) for dim in shape.get("dim", []))
