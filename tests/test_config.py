"""Configuration: precedence, errors with suggestions (YAML and flags), model flags in --help,
and the resolved config saved in the run directory and in the checkpoint."""
from __future__ import annotations

import pytest
import yaml

import translate
from translate.checkpoint import load_checkpoint
from translate.config import DataConfig, TrainConfig, resolve
from translate.errors import ConfigError
from translate.restore import model_class


@pytest.fixture
def cyclegan():
    return model_class("cyclegan")


def write_yaml(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def test_precedence_defaults_plugin_yaml_flags(cyclegan, tmp_path):
    assert TrainConfig().log_every == 50 and cyclegan.train_defaults["log_every"] == 25
    config_file = write_yaml(tmp_path / "c.yaml", {
        "plugin": "cyclegan",
        "train": {"sample_every": 100, "batch_size": 2, "steps": 300},
        "data": {"max_items": 7},
        "model": {"lambda_cycle": 5, "ngf": 16},
        "lambda_identity": 0.25,          # a flat key is sorted into its section
    })
    config = resolve(cyclegan, config_file, {"batch_size": 3, "ngf": 8, "image-size": 48})
    train, data, model = config.train, config.data, config.model
    assert train.seed == TrainConfig().seed == 0          # dataclass default
    assert train.log_every == 25                           # plugin train_defaults > default
    assert train.checkpoint_every == 250                   # plugin train_defaults
    assert train.sample_every == 100 and train.steps == 300  # YAML > plugin defaults
    assert train.batch_size == 3                           # flag > YAML
    assert data.max_items == 7 and data.image_size == 48 and data.channels == DataConfig().channels
    assert model.lambda_cycle == 5.0 and isinstance(model.lambda_cycle, float)  # int accepted for float
    assert model.lambda_identity == 0.25
    assert model.ngf == 8                                  # flag > YAML
    assert model.ndf == 64 and model.pool_size == 50       # the paper's defaults
    assert config.plugin == "cyclegan"


def test_no_config_file_gives_plugin_defaults(cyclegan):
    config = resolve(cyclegan)
    assert config.train.steps == cyclegan.train_defaults["steps"] and config.model.lambda_cycle == 10.0


@pytest.mark.parametrize("content, expected", [
    ({"train": {"stpes": 5}}, r"train: unknown key 'stpes'\. Did you mean: steps\?"),
    ({"model": {"lamda_cycle": 3}}, r"model: unknown key 'lamda_cycle'\. Did you mean: lambda_cycle"),
    ({"lamda_cycle": 3}, r"unknown option 'lamda_cycle'\. Did you mean: lambda_cycle"),
    ({"modle": {"ngf": 8}}, r"unknown section 'modle'\. Did you mean: model\?"),
], ids=["train-key", "model-key", "flat-key", "section"])
def test_unknown_yaml_key_is_an_error_with_a_suggestion(cyclegan, tmp_path, content, expected):
    with pytest.raises(ConfigError, match=expected):
        resolve(cyclegan, write_yaml(tmp_path / "c.yaml", content))


@pytest.mark.parametrize("content, expected", [
    ({"train": {"steps": "ten"}}, r"train\.steps: expected int, got str 'ten'"),
    ({"model": {"lambda_cycle": True}}, r"model\.lambda_cycle: expected float, got True"),
    ({"train": {"precision": "fp8"}}, r"train\.precision: 'fp8' is not one of fp32, bf16, fp16"),
    ({"data": {"channels": None}}, r"data\.channels: null is not allowed"),
    ({"train": 5}, r"section 'train' must be a mapping"),
    ({"plugin": "pix2pix"}, r"it is for plugin 'pix2pix', not 'cyclegan'"),
], ids=["str-for-int", "bool-for-float", "not-a-choice", "null", "section-not-mapping", "other-plugin"])
def test_wrong_yaml_value_is_an_error_naming_the_key(cyclegan, tmp_path, content, expected):
    with pytest.raises(ConfigError, match=expected):
        resolve(cyclegan, write_yaml(tmp_path / "c.yaml", content))


def test_yaml_that_is_not_a_mapping_or_missing(cyclegan, tmp_path):
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        resolve(cyclegan, tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(cyclegan, tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="a folder, not a YAML file"):
        resolve(cyclegan, tmp_path)
    (tmp_path / "bad.yaml").write_text("train: {steps: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve(cyclegan, tmp_path / "bad.yaml")


# -- flags -------------------------------------------------------------------------------------------

def test_unknown_flag_suggests_the_right_one(run_cli, tmp_path):
    code, out, err = run_cli("fit", "--plugin", "cyclegan", "--lamda-cycle", "3", "--out", tmp_path / "runs")
    assert code == 2
    assert "unrecognized argument '--lamda-cycle'" in err and "Did you mean: --lambda-cycle" in err
    assert not (tmp_path / "runs").exists()


def test_wrong_typed_flag_names_it(run_cli, tmp_path):
    code, _, err = run_cli("fit", "--plugin", "cyclegan", "--steps", "ten", "--out", tmp_path / "runs")
    assert code == 2 and "argument --steps: expected int, got 'ten'" in err
    code, _, err = run_cli("fit", "--plugin", "cyclegan", "--precision", "fp8")
    assert code == 2 and "--precision" in err and "fp8" in err
    assert not (tmp_path / "runs").exists()


def test_fit_help_lists_the_model_flags(run_cli):
    code, out, _ = run_cli("fit", "--plugin", "cyclegan", "--help")
    assert code == 0
    for flag in ("--lambda-cycle", "--lambda-identity", "--ngf", "--n-layers-d", "--gan-mode",
                 "--steps", "--batch-size", "--image-size", "--data", "--config", "--resume"):
        assert flag in out, flag
    assert "(default: 10.0)" in out                        # the paper's lambda_cycle
    assert "model: cyclegan" in out


def test_fit_help_gives_the_defaults_of_the_chosen_model(run_cli):
    """A model's own train/data defaults (StarGAN: 2,000 steps of 8 at 32x32) are what its help
    shows, not the generic TrainConfig/DataConfig ones; an empty default is not printed."""
    code, out, _ = run_cli("fit", "--plugin", "stargan", "--help")
    assert code == 0
    flat = " ".join(out.split())
    assert "total optimization steps (iterations) (default: 2000)" in flat
    assert "images per step per process (default: 8)" in flat
    assert "e.g. 64 for the built-in emoji) (default: 32)" in flat
    assert "(default: )" not in flat


def test_fit_help_without_plugin_says_how_to_see_model_flags(run_cli):
    code, out, _ = run_cli("fit", "--help")
    assert code == 0 and "--plugin NAME --help" in out


def test_fit_without_plugin_is_an_error(run_cli):
    code, _, err = run_cli("fit")
    assert code == 2 and "--plugin is required" in err


def test_resolved_config_in_run_dir_and_checkpoint(shared_unpaired, tmp_path, run_cli, tiny_flags):
    config_file = write_yaml(tmp_path / "c.yaml", {"model": {"lambda_cycle": 4.0, "gan_mode": "hinge"},
                                                   "train": {"seed": 7}})
    code, _, err = run_cli("fit", "--plugin", "cyclegan", *tiny_flags, "--config", config_file,
                           "--lambda-identity", "0.3", "--data", shared_unpaired, "--out", tmp_path / "runs",
                           "--name", "cfg")
    assert code == 0, err
    run = tmp_path / "runs" / "cfg"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    ckpt = load_checkpoint(run / "checkpoints" / "step_000002.pt")
    assert saved == ckpt["config"]
    assert saved["plugin"] == "cyclegan"
    assert saved["model"]["lambda_cycle"] == 4.0 and saved["model"]["gan_mode"] == "hinge"   # YAML
    assert saved["model"]["lambda_identity"] == 0.3 and saved["model"]["ngf"] == 8          # flags
    assert saved["train"]["seed"] == 7 and saved["train"]["steps"] == 2
    assert saved["train"]["log_every"] == 1                     # flag over the plugin default 25
    assert saved["data"]["data"] == str(shared_unpaired.resolve())  # the canonical, absolute data path
    assert saved["data"]["image_size"] == 32
    # Every field is there, so export/evaluate/resume need no flags again.
    assert set(saved["train"]) == set(TrainConfig.__dataclass_fields__)
    assert set(saved["model"]) == set(model_class("cyclegan").Config.__dataclass_fields__)


def test_fit_library_function_rejects_unknown_keyword(shared_unpaired, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown option 'lamda_cycle'\. Did you mean: lambda_cycle"):
        translate.fit("cyclegan", data=str(shared_unpaired), out=str(tmp_path), lamda_cycle=3)


def test_a_saved_config_without_a_newer_field_keeps_the_value_it_was_trained_with():
    """A field added later (or whose default changed) declares `before`: a checkpoint's config that
    lacks it rebuilds the model as it was trained; a YAML file or a flag-less run gets the default."""
    from dataclasses import dataclass

    from translate.config import RunConfig, from_dict, opt

    @dataclass
    class Config:
        width: int = opt(8, "w")
        norm: str = opt("instance", "n", ["batch", "instance"], before="batch")

    class Model:
        pass

    Model.Config = Config
    assert from_dict(Config, {"width": 4}, "c") == Config(4, "instance")
    assert from_dict(Config, {"width": 4}, "c", saved=True) == Config(4, "batch")
    assert from_dict(Config, {"norm": "instance"}, "c", saved=True) == Config(8, "instance")
    run = RunConfig.from_dict({"plugin": "x", "model": {}}, Model, saved=True)
    assert run.model == Config(8, "batch")
    # DANN's --standardize, --ema and --dropout came after its first checkpoints: those restore without them.
    dann = model_class("dann")
    old = RunConfig.from_dict({"plugin": "dann", "model": {"mode": "dann"}}, dann, saved=True).model
    assert (old.standardize, old.ema, old.dropout) == ("none", 0.0, 0.0)
    assert (dann.Config().standardize, dann.Config().ema, dann.Config().dropout) == ("channel", 0.995, 0.7)


def test_evaluation_settings_are_declared_on_the_fields_evaluate_may_change():
    """`translate evaluate` offers exactly the fields marked opt(..., evaluation=True)."""
    from translate.config import evaluation_fields

    assert evaluation_fields(model_class("cyclegan").Config) == ["ema", "kid_samples"]   # ema: --ema 0, the live weights
    assert evaluation_fields(model_class("pix2pix").Config) == ["kid_samples"]
    assert evaluation_fields(model_class("cgan").Config) == ["eval_samples_per_class", "eval_classifier_steps",
                                                             "kid_samples"]
    assert evaluation_fields(model_class("dann").Config) == ["ema"]
    assert evaluation_fields(model_class("stargan").Config) == ["ema"]
