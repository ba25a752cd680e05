"""A run's config from a file, flags and `--set`, and the CLI around it."""

import dataclasses
import json
import pathlib
import re

import pytest

from mmkeras import cli
from mmkeras.training import trainer
from mmkeras.training.config_file import load_config
from mmkeras.training.trainer import TrainConfig

REQUIRED = ["manifest=data/manifest.jsonl", "output_dir=run"]
README = pathlib.Path(__file__).parents[2] / "README.md"


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_later_sources_win_defaults_file_flags_set(tmp_path):
    path = _write(
        tmp_path / "run.yaml",
        "manifest: data/manifest.jsonl\n"
        "output_dir: run\n"
        "epochs: 5\n"
        "hidden_dim: 16\n"
        "batch_size: 8\n",
    )
    config = load_config(path, ["batch_size=4"], hidden_dim=32, batch_size=2)
    assert config.epochs == 5  # the file over the default
    assert config.hidden_dim == 32  # a flag over the file
    assert config.batch_size == 4  # --set over both
    assert config.num_layers == TrainConfig.num_layers  # the default


@pytest.mark.parametrize(
    "text, field, expected",
    [
        ("epochs=7", "epochs", 7),
        ("learning_rate=3e-3", "learning_rate", 0.003),
        ("dropout=0", "dropout", 0.0),
        ("validate=false", "validate", False),
        ("validate=0", "validate", False),
        ("deterministic=true", "deterministic", True),
        ("deterministic=1", "deterministic", True),
        ("augment=null", "augment", None),
        ("augment=none", "augment", None),
        ("verbose=2", "verbose", 2),
        ("modalities=text, image", "modalities", ("text", "image")),
        ("modalities=null", "modalities", None),
        ("backup_every=epoch", "backup_every", "epoch"),
        ("backup_every=20", "backup_every", 20),
        ("learning-rate=0.1", "learning_rate", 0.1),
        ("loss=sigmoid", "loss", "sigmoid"),
        ("jit_compile=on", "jit_compile", "on"),
        ("strategy=multi-worker", "strategy", "multi-worker"),
    ],
)
def test_set_values_take_their_fields_types(text, field, expected):
    config = load_config(overrides=REQUIRED + [text])
    assert getattr(config, field) == expected
    assert type(getattr(config, field)) is type(expected)


def test_yaml_values_keep_their_types_and_lists_become_tuples(tmp_path):
    path = _write(
        tmp_path / "run.yml",
        "manifest: m.jsonl\n"
        "output_dir: out\n"
        "modalities: [image, text]\n"
        "learning_rate: 3e-3\n"  # text to YAML 1.1, a number here
        "augment: null\n"
        "validate: no\n"
        "clip_seconds: 2\n"
        "jit_compile: off\n",  # a bool to YAML 1.1
    )
    config = load_config(path)
    assert config.jit_compile == "off"
    assert config.modalities == ("image", "text")
    assert config.learning_rate == 0.003
    assert config.augment is None and config.validate is False
    assert config.clip_seconds == 2.0 and type(config.clip_seconds) is float


def test_a_runs_config_json_is_a_config_file(tmp_path):
    config = TrainConfig(
        manifest="m.jsonl", output_dir="out", fusion="gated", epochs=3
    )
    path = tmp_path / "config.json"
    path.write_text(json.dumps(trainer._config_dict(config, ("image", "text"))))
    loaded = load_config(str(path))
    assert loaded == dataclasses.replace(config, modalities=("image", "text"))


@pytest.mark.parametrize(
    "lines, message",
    [
        ("epoch: 5\n", "run.yaml: unknown key 'epoch'; did you mean 'epochs'?"),
        ("zzz: 1\n", "run.yaml: unknown key 'zzz'."),
        (
            "epochs: five\n",
            "run.yaml: epochs: expected an integer, received 'five'.",
        ),
        (
            "fusion: sum\n",
            "run.yaml: fusion: expected one of attention, weighted_sum, "
            "concat, gated, cross_attention; received 'sum'.",
        ),
        ("epochs: null\n", "run.yaml: epochs: expected an integer, not null."),
        ("validate: maybe\n", "run.yaml: validate: expected true or false"),
        ("modalities: [image, smell]\n", "run.yaml: modalities: 'smell'"),
        ("backup_every: 0\n", "run.yaml: backup_every: expected 'epoch' or"),
        (
            "epochs: a: 5\n",
            "run.yaml line 2: not valid YAML: mapping values are not allowed",
        ),
    ],
)
def test_a_bad_file_is_one_line_naming_file_and_key(
    tmp_path, monkeypatch, lines, message
):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "run.yaml", "manifest: m.jsonl\n" + lines)
    with pytest.raises(ValueError) as raised:
        load_config("run.yaml", ["output_dir=out"])
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_bad_json_and_bad_overrides_are_named(tmp_path):
    path = _write(tmp_path / "list.yaml", "- epochs\n")
    with pytest.raises(ValueError, match=r"list.yaml: expected a mapping"):
        load_config(path)
    path = _write(tmp_path / "run.json", '{"epochs": 5,}')
    with pytest.raises(ValueError, match=r"run.json line 1: not valid JSON"):
        load_config(path)
    with pytest.raises(ValueError, match=r"^--set epochs: expected KEY=VALUE"):
        load_config(overrides=REQUIRED + ["epochs"])
    with pytest.raises(ValueError, match=r"^--set lr=1: unknown key 'lr'"):
        load_config(overrides=REQUIRED + ["lr=1"])


def test_a_required_setting_left_unset_says_where_to_give_it():
    with pytest.raises(ValueError, match="^output_dir is not set: give"):
        load_config(overrides=["manifest=m.jsonl"])


def test_the_readmes_yaml_example_is_a_valid_config(tmp_path):
    text = README.read_text()
    example = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    config = load_config(_write(tmp_path / "run.yaml", example))
    assert config.manifest and config.output_dir


def _parsed_train(monkeypatch, argv):
    """The TrainConfig `mmkeras train argv` would train, without training."""
    seen = {}

    def fake_train(config):
        seen["config"] = config
        raise _Stop

    monkeypatch.setattr(trainer, "train", fake_train)
    args = cli.build_parser().parse_args(["train", *argv])
    with pytest.raises(_Stop):
        args.run(args)
    return seen["config"]


class _Stop(Exception):
    pass


def test_the_cli_reads_a_config_then_flags_then_set(tmp_path, monkeypatch):
    path = _write(
        tmp_path / "run.yaml",
        "manifest: m.jsonl\noutput_dir: out\nepochs: 5\nfusion: gated\n"
        "learning_rate: 0.01\n",
    )
    config = _parsed_train(
        monkeypatch,
        [
            "--config",
            path,
            "--epochs=7",
            "--modalities",
            "text",
            "image",
            "--no-augment",
            "--early-stopping=2",
            "--set",
            "learning_rate=0.02",
            "--set",
            "backup_every=10",
        ],
    )
    assert (config.manifest, config.output_dir) == ("m.jsonl", "out")
    assert config.fusion == "gated"  # from the file; no flag given
    assert config.epochs == 7  # the flag over the file
    assert config.learning_rate == 0.02  # --set over the file
    assert config.modalities == ("text", "image")
    assert config.augment is False and config.early_stopping_patience == 2
    assert config.backup_every == 10


def test_the_cli_without_a_config_keeps_its_flags(monkeypatch):
    config = _parsed_train(
        monkeypatch, ["--manifest=m.jsonl", "--output-dir=out"]
    )
    assert config == TrainConfig(manifest="m.jsonl", output_dir="out")


def test_train_help_shows_trainconfigs_defaults():
    parser = cli.build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    shown = 0
    for action in train._actions:
        match = re.search(r"default: ([^)]+)\)?$", action.help or "")
        if action.dest in defaults and match and defaults[action.dest]:
            assert match.group(1) == str(defaults[action.dest]), action.dest
            shown += 1
    assert shown >= 20
    settable = {a.dest for a in train._actions} - {"help", "config"}
    assert settable - {"overrides"} <= set(defaults)


def test_a_config_mistake_is_one_line_from_the_cli(tmp_path, capsys):
    path = _write(tmp_path / "run.yaml", "manifest: m.jsonl\nepoch: 5\n")
    with pytest.raises(SystemExit) as raised:
        cli.main(["train", "--config", path, "--output-dir", "out"])
    assert raised.value.code == (
        f"mmkeras train: error: {path}: unknown key 'epoch'; "
        "did you mean 'epochs'?"
    )


def test_the_cli_knows_the_packages_choices():
    from mmkeras.data.manifest import MODALITIES
    from mmkeras.models.presets import FUSIONS
    from mmkeras.training.compilation import JIT_COMPILE
    from mmkeras.training.distribution import STRATEGIES
    from mmkeras.training.precision import POLICIES

    assert cli.JIT_COMPILE == JIT_COMPILE
    assert cli.STRATEGIES == STRATEGIES
    assert cli.FUSIONS == FUSIONS
    assert cli.MODALITIES == MODALITIES
    assert cli.PRECISIONS == POLICIES
