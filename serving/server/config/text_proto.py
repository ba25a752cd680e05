"""Reading a config file written in protobuf text format.

TensorFlow Serving's protobuf parser logs "Error parsing text-format
tensorflow.serving.ModelServerConfig: LINE:COLUMN: REASON" and the server
then fails with "Invalid protobuf file: 'PATH'"; operators' scripts look
for both phrases, so the error raised here carries both, in one message.
"""

from google.protobuf import text_format


def read_text_proto(path, message_class, descriptor_pool=None):
    """Parses a text-format file into a new `message_class` message.

    Args:
        path: str. The file to read.
        message_class: a protobuf message class, e.g. SSLConfig.
        descriptor_pool: DescriptorPool | None. Where the types of
            google.protobuf.Any values are looked up.

    Returns:
        The parsed message.

    Raises:
        OSError: if the file cannot be read (the message names it).
        ValueError: if the text does not parse: "Invalid protobuf file:
            'PATH': Error parsing text-format TYPE: LINE:COLUMN: REASON".
    """
    with open(path, encoding="utf-8") as config_file:
        text = config_file.read()
    return parse_text_proto(text, message_class, path, descriptor_pool)


def parse_text_proto(text, message_class, source, descriptor_pool=None):
    """Parses text-format `text`; `source` names it in errors."""
    try:
        return text_format.Parse(
            text, message_class(), descriptor_pool=descriptor_pool
        )
    except text_format.ParseError as error:
        name = message_class.DESCRIPTOR.full_name
        raise ValueError(
            f"Invalid protobuf file: {source!r}: Error parsing text-format "
            f"{name}: {_position_and_reason(error)}"
        ) from error


def _position_and_reason(error):
    """ "LINE:COLUMN: REASON", as protobuf's C++ parser prints it (Python's
    writes "LINE:COLUMN : REASON")."""
    text = str(error)
    if error.GetLine() is None:
        return text
    reason = text.split(" : ", 1)[-1]
    return f"{error.GetLine()}:{error.GetColumn()}: {reason}"
