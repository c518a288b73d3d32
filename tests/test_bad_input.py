"""Bad input: each gives a clear message naming the file or flag, a non-zero exit code, and
leaves nothing overwritten (and, where it fails early, nothing written)."""
from __future__ import annotations

import shutil

import pytest
import torch

import translate
from translate.checkpoint import load_checkpoint, step_checkpoints
from translate.errors import TrainingError
from translate.restore import build_model, load_run


def fit_args(tiny_flags, data, out, *more):
    return ("fit", "--plugin", "cyclegan", *tiny_flags, "--data", data, "--out", out, *more)


def no_runs(out):
    return not out.exists() or not any(out.iterdir())


# -- data -------------------------------------------------------------------------------------------

def test_missing_data_dir(run_cli, tiny_flags, tmp_path):
    out = tmp_path / "runs"
    code, _, err = run_cli(*fit_args(tiny_flags, tmp_path / "nowhere", out))
    assert code == 2
    assert f"--data {tmp_path / 'nowhere'}: no such folder, and not a built-in dataset" in err
    assert "noto2twemoji" in err                     # what would have worked
    assert "Traceback" not in err and no_runs(out)


def test_empty_data_dir(run_cli, tiny_flags, tmp_path):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "runs"
    code, _, err = run_cli(*fit_args(tiny_flags, tmp_path / "empty", out))
    assert code == 2
    assert str(tmp_path / "empty") in err and "missing trainA/ and trainB/" in err and "Found in" in err
    assert no_runs(out)


def test_empty_domain_folders(run_cli, tiny_flags, tmp_path):
    for d in ("trainA", "trainB"):
        (tmp_path / "data" / d).mkdir(parents=True)
    code, _, err = run_cli(*fit_args(tiny_flags, tmp_path / "data", tmp_path / "runs"))
    assert code == 2 and f"domain folder {tmp_path / 'data' / 'trainA'} contains no images" in err
    assert no_runs(tmp_path / "runs")


def test_wrong_layout_shows_the_expected_tree(run_cli, tiny_flags, tmp_path, png):
    for i in range(2):
        png(tmp_path / "data" / "A" / f"{i}.png", i)
        png(tmp_path / "data" / "B" / f"{i}.png", 10 + i)
    code, _, err = run_cli(*fit_args(tiny_flags, tmp_path / "data", tmp_path / "runs"))
    assert code == 2
    assert "does not have the unpaired layout" in err
    assert "Expected:" in err and "trainA/" in err and "trainB/" in err and "testA/" in err
    assert "Found in" in err and "A/, B/" in err
    assert no_runs(tmp_path / "runs")


def test_corrupt_image_is_named(run_cli, tiny_flags, tmp_path, png):
    data = tmp_path / "data"
    bad = data / "trainA" / "broken.png"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a PNG at all" * 4)  # every A item is this file
    for i in range(3):
        png(data / "trainB" / f"b{i}.png", i)
    code, _, err = run_cli(*fit_args(tiny_flags, data, tmp_path / "runs"))
    assert code == 2
    assert f"{bad}: cannot read image" in err and "Traceback" not in err
    assert no_runs(tmp_path / "runs")


def test_too_few_items_for_the_batch(run_cli, tiny_flags, unpaired_dir, tmp_path):
    code, _, err = run_cli(*fit_args(tiny_flags, unpaired_dir, tmp_path / "runs", "--batch-size", "5"))
    assert code == 2 and "4 training items, fewer than --batch-size 5" in err
    assert no_runs(tmp_path / "runs")


# -- plugins and flags --------------------------------------------------------------------------------------

def test_unknown_plugin_gets_suggestions(run_cli, tmp_path):
    code, _, err = run_cli("fit", "--plugin", "cyclegam", "--out", tmp_path / "runs")
    assert code == 2 and "unknown model 'cyclegam'" in err and "Did you mean: cyclegan" in err
    assert "Known: " in err and "cyclegan" in err.split("Known: ")[1] and no_runs(tmp_path / "runs")


def test_unknown_command_gets_suggestions(run_cli):
    code, _, err = run_cli("fitt")
    assert code == 2 and "unknown command 'fitt'" in err and "Did you mean: fit?" in err


@pytest.mark.parametrize("flags, expected", [
    (("--lamda-cycle", "3"), "unrecognized argument '--lamda-cycle'. Did you mean: --lambda-cycle"),
    (("--image-size", "big"), "argument --image-size: expected int, got 'big'"),
    (("--gan-mode", "wgan"), "argument --gan-mode: invalid choice: 'wgan'"),
    (("--device", "tpu"), "--device 'tpu': not a device"),
    (("--image-size", "30"), "--image-size 30: the ResNet generator downsamples twice by 2, so the training size "
                             "must be a multiple of 4 (e.g. 28 or 32)"),
], ids=["unknown", "wrong-type", "bad-choice", "bad-device", "size-the-generator-cannot-take"])
def test_bad_flags(run_cli, tiny_flags, unpaired_dir, tmp_path, flags, expected):
    code, _, err = run_cli(*fit_args(tiny_flags, unpaired_dir, tmp_path / "runs", *flags))
    assert code == 2 and expected in err
    assert no_runs(tmp_path / "runs")


def test_an_out_that_is_a_file_or_a_name_with_folders_is_refused(run_cli, tiny_flags, unpaired_dir, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    code, _, err = run_cli(*fit_args(tiny_flags, unpaired_dir, notes))
    assert code == 2 and f"--out {notes}: exists and is not a folder" in err and "Traceback" not in err
    assert notes.read_text() == "mine"
    code, _, err = run_cli(*fit_args(tiny_flags, unpaired_dir, notes / "runs"))
    assert code == 2 and f"--out {notes / 'runs'}: is inside {notes}, which exists and is not a folder" in err
    code, _, err = run_cli(*fit_args(tiny_flags, unpaired_dir, tmp_path / "runs", "--name", "a/b"))
    assert code == 2 and "--name 'a/b': a run directory name, without folders" in err


# -- checkpoints ---------------------------------------------------------------------------------------------

def test_checkpoint_of_another_plugin_is_refused(run_cli, tiny_run, tmp_path, digests):
    ckpt = load_checkpoint(tiny_run.checkpoint)
    ckpt["plugin"] = "pix2pix"
    other = tmp_path / "other" / "step_000002.pt"
    other.parent.mkdir()
    torch.save(ckpt, other)
    before = digests(tmp_path / "other")
    code, _, err = run_cli("fit", "--plugin", "cyclegan", "--resume", other, "--quiet")
    assert code == 2
    assert "a checkpoint of plugin 'pix2pix'" in err and "--plugin cyclegan" in err and str(other) in err
    assert digests(tmp_path / "other") == before


class PlainThing:
    """A custom class instance: unpickling it imports this module."""

    def __init__(self):
        self.value = 3


class ReducingThing:
    """Unpickling this calls a function: code would run."""

    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("thing, global_name", [(PlainThing, "PlainThing"), (ReducingThing, "print")],
                         ids=["instance", "reduce"])
def test_checkpoint_with_a_pickled_object_is_refused(run_cli, tmp_path, digests, thing, global_name):
    path = tmp_path / "evil" / "step_000001.pt"
    path.parent.mkdir()
    torch.save({"format_version": 1, "plugin": "cyclegan", "step": 1, "payload": thing()}, path)
    before = digests(path.parent)
    code, out1, err = run_cli("export", path)
    assert code == 2
    assert f"checkpoint {path} was refused: it holds a pickled Python object" in err
    assert global_name in err and "weights_only=True" in err
    assert digests(path.parent) == before and not (path.parent / "exports").exists()
    code, out2, err = run_cli("fit", "--resume", path)   # resuming loads it the same safe way
    assert code == 2 and "weights_only=True" in err
    assert "this must never run" not in out1 + out2


def test_not_a_checkpoint_and_missing_checkpoint(run_cli, tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    code, _, err = run_cli("export", garbage)
    assert code == 2 and f"checkpoint {garbage} cannot be read" in err
    code, _, err = run_cli("export", tmp_path / "nothing-here")
    assert code == 2 and "no such run directory or checkpoint file" in err
    (tmp_path / "emptyrun").mkdir()
    code, _, err = run_cli("evaluate", tmp_path / "emptyrun")
    assert code == 2 and "no checkpoints" in err


def test_an_output_folder_inside_a_file_is_refused_before_any_work(run_cli, tiny_run, tmp_path, png):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    good = png(tmp_path / "in" / "good.png", 1)
    code, _, err = run_cli("predict", tiny_run.run_dir / "exports" / "A2B.onnx", good, "--output", notes / "out")
    assert code == 2 and f"--output {notes / 'out'}: is inside {notes}, which exists and is not a folder" in err
    code, _, err = run_cli("export", tiny_run.checkpoint, "--output", notes)
    assert code == 2 and f"--output {notes}: exists and is not a folder" in err and "Traceback" not in err
    assert notes.read_text() == "mine"


def test_predict_input_that_does_not_exist(run_cli, tiny_run, tmp_path, png):
    model = tiny_run.run_dir / "exports" / "A2B.onnx"
    assert model.is_file()
    good = png(tmp_path / "in" / "good.png", 1)
    code, _, err = run_cli("predict", model, good, tmp_path / "in" / "missing.png", "--output", tmp_path / "out")
    assert code == 2 and f"{tmp_path / 'in' / 'missing.png'}: input does not exist" in err
    assert not (tmp_path / "out").exists()          # checked before anything is written


def test_predict_with_a_model_that_does_not_exist(run_cli, tmp_path, png):
    good = png(tmp_path / "in" / "good.png", 1)
    code, _, err = run_cli("predict", tmp_path / "nope.onnx", good, "--output", tmp_path / "out")
    assert code != 0 and "nope.onnx" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


# -- training failure modes ----------------------------------------------------------------------------------

def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(test_models, run_cli, tiny_flags,
                                                                    unpaired_dir, tmp_path):
    out = tmp_path / "runs"
    code, _, err = run_cli("fit", "--plugin", "nan_at_step3", *tiny_flags, "--steps", "6", "--checkpoint-every", "2",
                           "--data", unpaired_dir, "--out", out, "--name", "nan")
    assert code == 3
    assert "training stopped at step 3: non-finite loss" in err
    ckpts = out / "nan" / "checkpoints"
    assert f"the last good checkpoint is {ckpts / 'step_000002.pt'}" in err
    assert [s for s, _ in step_checkpoints(ckpts)] == [2]          # nothing saved for the failed step
    _, ckpt, cls, config = load_run(out / "nan")
    model = build_model(cls, config, ckpt)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_non_finite_loss_raises_training_error_from_the_library(test_models, tiny, unpaired_dir, tmp_path):
    from translate.restore import model_class

    with pytest.raises(TrainingError, match="non-finite loss .*no checkpoint was written yet"):
        translate.fit("nan_at_step3", quiet=True, **tiny(model_class("nan_at_step3"), data=str(unpaired_dir),
                                                          out=str(tmp_path / "runs"), steps=4))


def test_discriminator_collapse_is_warned_about(test_models, tiny, unpaired_dir, tmp_path, capsys):
    from translate.restore import model_class

    with pytest.warns(RuntimeWarning, match=r"discriminator loss D_A has been ~0") as warned:
        translate.fit("collapsed_d", quiet=False, **tiny(model_class("collapsed_d"), data=str(unpaired_dir),
                                                          out=str(tmp_path / "runs"), steps=4))
    assert len([w for w in warned if "D_A" in str(w.message)]) == 1     # once, not every step
    assert not any("D_B" in str(w.message) for w in warned)            # D_B is healthy
    assert "warning: step 3: discriminator loss D_A" in capsys.readouterr().err


def test_healthy_run_gives_no_collapse_warning(tiny_run):
    import json

    records = [json.loads(line) for line in (tiny_run.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(r["D_A"] > 1e-3 and r["D_B"] > 1e-3 for r in records)


def test_resume_refuses_to_overwrite_newer_checkpoints(run_cli, tiny_run, tmp_path, digests):
    run = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, run)
    before = digests(run)
    code, _, err = run_cli("fit", "--resume", run / "checkpoints" / "step_000001.pt", "--quiet")
    assert code == 2 and "the run has newer checkpoints (step_000002.pt)" in err
    assert digests(run) == before
