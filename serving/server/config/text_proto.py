"""Reading a config file written in protobuf text format.

TensorFlow Serving answers a bad file with "Invalid protobuf file: 'PATH'"
and nothing else; this says the same and adds text_format's line:column
and reason, so the broken line can be found without guessing.
"""

from google.protobuf import text_format


def read_text_proto(path, message_class):
    """Parses a text-format file into a new `message_class` message.

    Args:
        path: str. The file to read.
        message_class: a protobuf message class, e.g. SSLConfig.

    Returns:
        The parsed message.

    Raises:
        OSError: if the file cannot be read (the message names it).
        ValueError: if the text does not parse, naming the file, the message
            type and text_format's "line:column : reason".
    """
    with open(path, encoding="utf-8") as config_file:
        text = config_file.read()
    return parse_text_proto(text, message_class, source=path)


def parse_text_proto(text, message_class, source):
    """Parses text-format `text`; `source` names it in errors."""
    try:
        return text_format.Parse(text, message_class())
    except text_format.ParseError as error:
        raise ValueError(
            f"Invalid protobuf file: {source!r} is not a valid text-format "
            f"{message_class.DESCRIPTOR.full_name}: {error}"
        ) from error
