"""Bearer-token checks for the REST API (TensorFlow Serving has none).

A request is let through when its `Authorization` header is
`Bearer <token>` with the server's token; the comparison takes the same
time whatever the sent token is, so it leaks nothing about the secret.
"""

import hmac

UNAUTHENTICATED_MESSAGE = (
    "Missing or invalid bearer token. Send the header "
    "'Authorization: Bearer <token>' with the server's token."
)
CHALLENGE_HEADERS = {"WWW-Authenticate": 'Bearer realm="model-server"'}


def bearer_token_matches(authorization, token):
    """True if an Authorization header value carries `token`.

    Args:
        authorization: str | None. The header value, e.g. "Bearer s3cret".
        token: str. The token the server expects.
    """
    scheme, _, sent = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(sent.strip().encode(), token.encode())
