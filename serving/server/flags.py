"""Command-line flags of the model server, named like TensorFlow Serving's.

Both `--flag=value` and `--flag value` are accepted. An unknown flag is an
error (exit code 2) rather than silently ignored, so that a typo such as
`--model_base=...` cannot start a server with the wrong model.
"""

import argparse
import dataclasses

PROGRAM_NAME = "mmkeras-model-server"
DEFAULT_PORT = 8500
DEFAULT_MODEL_NAME = "default"


@dataclasses.dataclass(frozen=True)
class ServerFlags:
    """The parsed flags.

    Args:
        port: int. gRPC port; 0 picks a free one.
        model_name: str. The name clients use in ModelSpec.name.
        model_base_path: str. Directory holding numbered version dirs.
    """

    port: int
    model_name: str
    model_base_path: str


def parse_flags(argv):
    """Parses command-line arguments (without the program name).

    Raises:
        SystemExit: with code 2 and a usage message on stderr for an unknown
            flag, a missing --model_base_path or an invalid value.
    """
    parser = _build_parser()
    # Unknown flags are reported before missing ones: a misspelt
    # --model_base_path is the likelier mistake, and this names it.
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.model_base_path is None:
        parser.error(
            "--model_base_path is required: the directory holding one "
            "numbered subdirectory per model version"
        )
    return ServerFlags(
        port=args.port,
        model_name=args.model_name,
        model_base_path=args.model_base_path,
    )


def _build_parser():
    parser = argparse.ArgumentParser(
        prog=PROGRAM_NAME,
        description=(
            "Serves the latest version of a SavedModel over TensorFlow "
            "Serving's gRPC API (PredictionService, ModelService)."
        ),
        # Prefixes of flag names would make typos silently valid.
        allow_abbrev=False,
    )
    parser.add_argument(
        "--port",
        type=_port_number,
        default=DEFAULT_PORT,
        help="Port to listen on for gRPC; 0 picks a free port and logs it.",
    )
    parser.add_argument(
        "--model_name",
        default=DEFAULT_MODEL_NAME,
        help="Name of the model, as clients put it in ModelSpec.name.",
    )
    parser.add_argument(
        "--model_base_path",
        help="Required. Directory with one numbered subdirectory per model "
        "version.",
    )
    return parser


def _port_number(text):
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"expected a port number between 0 and 65535, got {text!r}"
        )
    return port
