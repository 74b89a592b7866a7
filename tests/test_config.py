import pytest

from ocularis.config import build_config, parse_cli_options
from ocularis.errors import ConfigError
from ocularis.tasks.classify import ClassifyConfig


def test_cli_tokens_become_typed_config():
    options = parse_cli_options(["--data", "digits", "--epochs", "3", "--lr=0.01", "--skip-bad", "--no-progress",
                                 "--imgsz", "none"])
    config = build_config(ClassifyConfig, options)
    assert (config.data, config.epochs, config.lr, config.skip_bad, config.progress, config.imgsz) == \
        ("digits", 3, 0.01, True, False, None)


def test_yaml_then_overrides(tmp_path):
    (tmp_path / "run.yaml").write_text("epochs: 7\nmodel: lenet5\n")
    config = build_config(ClassifyConfig, {"epochs": "2"}, yaml_file=str(tmp_path / "run.yaml"))
    assert (config.epochs, config.model) == (2, "lenet5")


@pytest.mark.parametrize("options, message", [
    ({"epocs": "3"}, "unknown option --epocs"),
    ({"epochs": "three"}, "--epochs 'three' is not a valid int"),
    ({"augment": "wild"}, "--augment 'wild' is not one of none, light, heavy"),
])
def test_bad_options_name_the_field(options, message):
    with pytest.raises(ConfigError, match=message):
        build_config(ClassifyConfig, options)
