"""One `TrainConfig` per run, from a JSON or YAML file, flags and overrides.

Settings are taken, lowest first, from `TrainConfig`'s defaults, the
file, the explicit arguments (the flags a user typed) and `key=value`
overrides (`--set`). Every value is checked against its field's type
here, so a typo stops the run before any data is read, in one line that
names the key and where it came from.
"""

import dataclasses
import difflib
import json

from mmkeras.data.manifest import MODALITIES
from mmkeras.layers.logit_scale import LOSSES
from mmkeras.models.presets import FUSIONS
from mmkeras.training.compilation import JIT_COMPILE
from mmkeras.training.distribution import STRATEGIES
from mmkeras.training.precision import POLICIES
from mmkeras.training.trainer import TASKS
from mmkeras.training.trainer import TrainConfig

# Fields that take one of a few values.
CHOICES = {
    "task": TASKS,
    "fusion": FUSIONS,
    "loss": LOSSES,
    "precision": POLICIES,
    "strategy": STRATEGIES,
    "jit_compile": JIT_COMPILE,
    "verbose": (0, 1, 2),
}
NULLS = ("null", "none", "~")
TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")
EPOCH = "epoch"


def load_config(path=None, overrides=(), **explicit):
    """The run's `TrainConfig`: defaults < file < explicit < overrides.

    Args:
        path: str or None. A JSON (`.json`) or YAML (any other name) file
            holding a mapping of `TrainConfig` field names to values. A
            run's own `output_dir/config.json` is such a file. Paths in
            it are read from the working directory, like flags.
        overrides: iterable of str, "key=value" (the CLI's `--set`). The
            value is text, converted to the field's type: "5", "3e-3",
            "true"/"false"/"1"/"0", "image,text" for modalities, "null"
            for a field whose default is None. A key may use `-` for `_`.
        **explicit: `TrainConfig` fields, already typed (the flags given).

    Returns:
        A `TrainConfig`.

    Raises:
        ValueError: one line naming the key and its source, for an
            unknown key (with the closest known one), a value of the
            wrong type or outside the field's choices, or a required
            field (`manifest`, `output_dir`) left unset.

    Example:
    >>> config = load_config(
    ...     overrides=["manifest=data/manifest.jsonl", "output_dir=run"],
    ...     epochs=3,
    ... )
    >>> config.epochs, config.output_dir
    (3, 'run')
    >>> load_config(overrides=["epoch=5"])
    Traceback (most recent call last):
    ...
    ValueError: --set epoch=5: unknown key 'epoch'; did you mean 'epochs'?
    """
    values = {}
    if path is not None:
        for key, value in read_config_file(path).items():
            name = _field_name(key, path)
            values[name] = coerce(name, value, path)
    for key, value in explicit.items():
        name = _field_name(key, f"argument {key}")
        values[name] = coerce(name, value, f"argument {key}")
    for item in overrides:
        key, separator, text = item.partition("=")
        where = f"--set {item}"
        if not separator or not key.strip():
            raise ValueError(f"{where}: expected KEY=VALUE, e.g. epochs=5.")
        name = _field_name(key.strip(), where)
        values[name] = coerce(name, text.strip(), where)
    for field in dataclasses.fields(TrainConfig):
        if field.default is dataclasses.MISSING and field.name not in values:
            raise ValueError(
                f"{field.name} is not set: give --"
                f"{field.name.replace('_', '-')}, `{field.name}:` in the "
                f"--config file, or --set {field.name}=..."
            )
    return TrainConfig(**values)


def read_config_file(path):
    """The mapping a JSON (`.json`) or YAML config file holds.

    Raises:
        ValueError: the file does not parse, or holds no mapping.
        OSError: it cannot be read.
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if str(path).endswith(".json"):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{path} line {error.lineno}: not valid JSON: {error.msg}."
            ) from None
    else:
        import yaml

        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"{path} line {mark.line + 1}" if mark else str(path)
            problem = getattr(error, "problem", None) or "cannot parse"
            raise ValueError(f"{where}: not valid YAML: {problem}.") from None
    if values is None:  # an empty file
        return {}
    if not isinstance(values, dict):
        raise ValueError(
            f"{path}: expected a mapping of settings (key: value), found "
            f"a {type(values).__name__}."
        )
    return {str(key): value for key, value in values.items()}


def coerce(name, value, where):
    """`value` (typed, or text from the command line) as field `name`'s
    type; `where` names its source in the error."""
    field = _FIELDS[name]
    try:
        if _is_null(value, text_too=field.default is None):
            if field.default is not None:
                raise ValueError(f"expected {_describe(field)}, not null")
            return None
        if name == "backup_every":
            return _steps_or_epoch(value)
        if name == "jit_compile" and isinstance(value, bool):
            value = "on" if value else "off"  # YAML reads on/off as bools
        converted = _CONVERTERS[field.type](value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {name}: {error}.") from None
    choices = CHOICES.get(name)
    if choices is not None and converted not in choices:
        raise ValueError(
            f"{where}: {name}: expected one of "
            f"{', '.join(map(str, choices))}; received {value!r}."
        )
    if name == "modalities":
        unknown = [m for m in converted if m not in MODALITIES]
        if unknown:
            raise ValueError(
                f"{where}: modalities: {unknown[0]!r} is not one of "
                f"{', '.join(MODALITIES)}."
            )
        return converted or None
    return converted


def _field_name(key, where):
    name = key.replace("-", "_")
    if name in _FIELDS:
        return name
    close = difflib.get_close_matches(name, _FIELDS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    raise ValueError(f"{where}: unknown key {key!r}{hint}")


def _is_null(value, text_too):
    if value is None:
        return True
    return text_too and isinstance(value, str) and value.lower() in NULLS


def _integer(value):
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, received {value!r}")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise ValueError(f"expected an integer, received {value!r}")


def _number(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        # YAML reads "3e-3" (no dot) as text; so do flags.
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"expected a number, received {value!r}")


def _boolean(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in TRUE + FALSE:
        return value.lower() in TRUE
    raise ValueError(f"expected true or false, received {value!r}")


def _text(value):
    if isinstance(value, str):
        return value
    raise ValueError(f"expected a string, received {value!r}")


def _names(value):
    """A tuple of names, from "a,b" or a list."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, str) for v in value
    ):
        raise ValueError(f"expected names like image,text; received {value!r}")
    return tuple(v.strip() for v in value if v.strip())


def _steps_or_epoch(value):
    if value == EPOCH:
        return EPOCH
    try:
        steps = _integer(value)
    except ValueError:
        steps = 0
    if steps < 1:
        raise ValueError(
            f"expected 'epoch' or a number of steps (>= 1), received {value!r}"
        )
    return steps


def _describe(field):
    if field.name == "backup_every":
        return "'epoch' or a number of steps"
    return {
        int: "an integer",
        float: "a number",
        bool: "true or false",
        str: "a string",
        tuple: "names",
    }[field.type]


_FIELDS = {field.name: field for field in dataclasses.fields(TrainConfig)}
_CONVERTERS = {
    int: _integer,
    float: _number,
    bool: _boolean,
    str: _text,
    tuple: _names,
}
