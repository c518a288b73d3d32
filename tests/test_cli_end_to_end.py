"""The practitioner's path through the real command line, each command in a fresh interpreter
(`python -m translate.cli`): fit -> export -> predict -> evaluate, at a tiny size. Then, in
process, what happens around an existing run: a second fit with the same --name, resuming.
"""
from __future__ import annotations

import json
import math
import shutil
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from translate import metrics as metrics_module
from translate.export import runtime
from translate.checkpoint import load_checkpoint
from translate.testing.contract import assert_same_tensors

STEPS = 4


@pytest.fixture(scope="module")
def e2e(tmp_path_factory, run_translate, tiny_flags, shared_unpaired, png):
    base = tmp_path_factory.mktemp("e2e")
    runs, run = base / "runs", base / "runs" / "e2e"
    flags = [f for f in tiny_flags if f != "--quiet"]   # progress lines on (stderr is not a TTY)
    fit = run_translate("fit", "--plugin", "cyclegan", *flags, "--steps", STEPS, "--checkpoint-every", 2,
                        "--sample-every", 2, "--data", shared_unpaired, "--out", runs, "--name", "e2e", cwd=base)
    assert fit.returncode == 0, fit.stderr
    export = run_translate("export", run, cwd=base)
    assert export.returncode == 0, export.stderr
    image = png(base / "inputs" / "photo.png", 7, size=(46, 30))   # not a multiple of 4: padded and cropped
    predict = run_translate("predict", run / "exports" / "A2B.onnx", image, "--output", base / "out", cwd=base)
    evaluate = run_translate("evaluate", run, "--json", cwd=base)
    return SimpleNamespace(base=base, runs=runs, run=run, data=shared_unpaired, image=image,
                           fit=fit, export=export, predict=predict, evaluate=evaluate)


def finite_numbers(record: dict) -> bool:
    return all(math.isfinite(v) for v in record.values() if isinstance(v, (int, float)))


def test_fit_writes_a_complete_run_directory(e2e):
    run = e2e.run
    assert sorted(p.name for p in e2e.runs.iterdir()) == ["e2e"]
    config = (run / "config.yaml").read_text()
    assert "plugin: cyclegan" in config and f"steps: {STEPS}" in config

    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, STEPS + 1))     # --log-every 1
    assert all(finite_numbers(r) for r in records)
    assert {"G_AB", "G_BA", "cycle", "idt", "D_A", "D_B", "lr_G", "lr_D", "it_s"} <= set(records[0])

    samples = sorted(p.name for p in (run / "samples").glob("step_*.png"))
    assert samples == ["step_000002.png", "step_000004.png"]
    with Image.open(run / "samples" / "step_000004.png") as grid:
        assert grid.width > grid.height > 0                  # 6 columns x 2 rows of 32px tiles
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_000002.pt", "step_000004.pt"]

    index = (run / "index.html").read_text()
    assert 'src="samples/step_000004.png"' in index and 'src="samples/step_000002.png"' in index
    assert "<svg" in index and "<script" not in index        # loss curves, no scripts
    evaluation = json.loads((run / "eval.json").read_text())
    assert evaluation["step"] == STEPS and evaluation["pairs"] == 3

    err = e2e.fit.stderr
    assert f"step {STEPS}/{STEPS}" in err and f"done: {run}" in err and "Traceback" not in err


def test_export_writes_verified_onnx_files(e2e):
    exports = e2e.run / "exports"
    assert sorted(p.name for p in exports.iterdir()) == ["A2B.onnx", "B2A.onnx"]
    assert str(exports / "A2B.onnx") in e2e.export.stdout and str(exports / "B2A.onnx") in e2e.export.stdout
    assert "max abs error" in e2e.export.stdout            # verified against PyTorch


def test_predict_keeps_the_input_size(e2e):
    assert e2e.predict.returncode == 0, e2e.predict.stderr
    out = e2e.base / "out" / "photo.png"
    assert out.is_file() and str(out) in e2e.predict.stdout
    with Image.open(e2e.image) as src, Image.open(out) as result:
        assert result.size == src.size == (46, 30)
        assert result.mode == "RGB"


def test_evaluate_prints_json(e2e):
    assert e2e.evaluate.returncode == 0, e2e.evaluate.stderr
    metrics = json.loads(e2e.evaluate.stdout)
    assert metrics["step"] == STEPS and metrics["pairs"] == 3
    for key in ("A2B/psnr", "A2B/ssim", "B2A/psnr", "identity/psnr", "identity/ssim"):
        assert isinstance(metrics[key], float) and math.isfinite(metrics[key]), key


@pytest.mark.skipif(not metrics_module.is_available(), reason="the 'kid' extra is not installed")
def test_evaluate_takes_the_models_evaluation_settings_after_training(e2e, run_cli, digests):
    """--kid-samples was 0 when the run trained; `translate evaluate RUN --kid-samples 3` adds KID
    without retraining. Flags that would change the networks are refused; nothing is written
    (--data: an evaluation on data of one's choosing leaves the run's files alone)."""
    before = digests(e2e.run)
    code, out, err = run_cli("evaluate", "--data", e2e.data, e2e.run, "--kid-samples", 3, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["kid_images"] == 3 and math.isfinite(result["A2B/kid_efflite0"]), result
    assert result["A2B/psnr"] == pytest.approx(json.loads(e2e.evaluate.stdout)["A2B/psnr"])
    code, _, err = run_cli("evaluate", e2e.run, "--ngf", 4)
    assert code == 2 and "unrecognized argument '--ngf'" in err
    code, out, _ = run_cli("evaluate", e2e.run, "--help")
    assert code == 0 and "--kid-samples" in out and "--ngf" not in out
    assert digests(e2e.run) == before


def test_evaluating_an_earlier_checkpoint_keeps_the_runs_final_numbers(e2e, run_cli, digests):
    run = e2e.base / "copy" / "evaluated"     # not under runs/: other tests list it
    shutil.copytree(e2e.run, run)
    before = digests(run)
    code, out, err = run_cli("evaluate", run / "checkpoints" / "step_000002.pt")
    assert code == 0, err
    assert f"written to {run / 'evaluations' / 'step_000002.json'}" in out
    assert json.loads((run / "evaluations" / "step_000002.json").read_text())["step"] == 2
    after = digests(run)
    assert after.pop("evaluations/step_000002.json") and after == before    # eval.json (step 4) untouched
    assert json.loads((run / "eval.json").read_text())["step"] == STEPS


def test_exporting_an_earlier_checkpoint_keeps_the_runs_final_exports(e2e, run_cli, digests):
    run = e2e.base / "copy" / "exported"
    shutil.copytree(e2e.run, run)
    before = digests(run)
    code, out, err = run_cli("export", run / "checkpoints" / "step_000002.pt")
    assert code == 0, err
    earlier = run / "exports" / "step_000002"
    assert sorted(p.name for p in earlier.iterdir()) == ["A2B.onnx", "B2A.onnx"] and str(earlier / "A2B.onnx") in out
    after = digests(run)
    assert {k: v for k, v in after.items() if not k.startswith("exports/step_000002/")} == before
    assert runtime.read_metadata(earlier / "A2B.onnx")["step"] == 2
    assert runtime.read_metadata(run / "exports" / "A2B.onnx")["step"] == STEPS


def test_the_exports_of_fit_name_their_checkpoint_step(tiny_run):
    for name in ("A2B.onnx", "B2A.onnx"):
        assert runtime.read_metadata(tiny_run.run_dir / "exports" / name)["step"] == tiny_run.step


# -- around an existing run (in process) -----------------------------------------------------------

def test_same_name_fails_and_leaves_the_first_run_intact(e2e, run_cli, tiny_flags, digests):
    before = digests(e2e.run)
    code, _, err = run_cli("fit", "--plugin", "cyclegan", *tiny_flags, "--data", e2e.data, "--out", e2e.runs,
                           "--name", "e2e")
    assert code == 2
    assert f"--name e2e: run directory {e2e.run} already exists" in err and f"--resume {e2e.run}" in err
    assert digests(e2e.run) == before
    assert sorted(p.name for p in e2e.runs.iterdir()) == ["e2e"]


def test_resume_cannot_change_the_steps(e2e, run_cli, digests):
    before = digests(e2e.run)
    code, _, err = run_cli("fit", "--resume", e2e.run, "--steps", 8)
    assert code == 2
    assert "--steps cannot change when resuming" in err and "checkpoint_every" in err  # what may change
    assert digests(e2e.run) == before


def test_resuming_a_finished_run_does_nothing_more(e2e, run_cli, digests):
    """The run is at its last step: `fit --resume` trains no step, writes no checkpoint, logs no
    metrics and exits 0 (it re-writes only config.yaml/index.html/eval.json, with the same content)."""
    before = digests(e2e.run)
    code, _, err = run_cli("fit", "--resume", e2e.run)
    assert code == 0, err
    assert "resuming at step 4" in err
    after = digests(e2e.run)
    for name in ("checkpoints/step_000002.pt", "checkpoints/step_000004.pt", "metrics.jsonl", "config.yaml",
                 "samples/step_000004.png", "exports/A2B.onnx"):
        assert after[name] == before[name], name
    assert set(after) == set(before)
    assert sorted(p.name for p in e2e.runs.iterdir()) == ["e2e"]


def resume_after_step_2(e2e, run_cli, copy, *flags) -> tuple[dict, dict]:
    """Resume a copy of the e2e run as if it had stopped after step 2; (its step-4 checkpoint,
    the uninterrupted run's)."""
    shutil.copytree(e2e.run, copy)
    (copy / "checkpoints" / "step_000004.pt").unlink()
    code, _, err = run_cli("fit", "--resume", copy, *flags)
    assert code == 0, err
    return (load_checkpoint(copy / "checkpoints" / "step_000004.pt"),
            load_checkpoint(e2e.run / "checkpoints" / "step_000004.pt"))


def test_a_resumed_run_continues_its_own_directory(e2e, run_cli):
    stopped = e2e.runs / "stopped"
    resumed, uninterrupted = resume_after_step_2(e2e, run_cli, stopped, "--log-every", 2)  # logging may change
    assert sorted(p.name for p in e2e.runs.iterdir()) == ["e2e", "stopped"]   # no new run directory
    last = json.loads((stopped / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == STEPS
    assert resumed["config"]["train"]["log_every"] == 2
    assert_same_tensors(resumed["networks"], uninterrupted["networks"], "networks")


def test_data_loader_workers_do_not_change_the_training(e2e, run_cli):
    """Crops, flips and order depend on (seed, epoch, index) only: resuming the run that trained
    without workers with 2 worker processes (the CUDA default is 4) gives the same weights."""
    copy = e2e.base / "other-runs" / "workers"   # e2e.runs holds only what its own tests expect
    resumed, uninterrupted = resume_after_step_2(e2e, run_cli, copy, "--num-workers", 2)
    assert resumed["config"]["train"]["num_workers"] == 2
    assert_same_tensors(resumed["networks"], uninterrupted["networks"], "networks")


def test_unpaired_held_out_folders_train_and_evaluate_cycle_reconstructions(run_cli, tiny_flags, png, tmp_path):
    """A downloaded dataset such as horse2zebra: testA/ and testB/ hold unrelated images under
    unrelated names. The run must train and evaluate (there are no true targets, so CycleGAN
    scores its cycle reconstructions), each held-out image counted once."""
    from translate.datasets.unpaired import UnpairedDataset
    from translate.metrics import psnr_ssim
    from translate.restore import build_model, load_run

    data = tmp_path / "horse2zebra"
    for i in range(3):
        png(data / "trainA" / f"n0238_{i}.jpg", i)
        png(data / "trainB" / f"n0239_{i}.jpg", 10 + i)
    for i in range(2):
        png(data / "testA" / f"n0238_10{i}.jpg", 20 + i)
    for i in range(3):
        png(data / "testB" / f"n0239_10{i}.jpg", 30 + i)
    code, _, err = run_cli("fit", "--plugin", "cyclegan", *tiny_flags, "--data", data, "--out", tmp_path / "runs",
                           "--name", "h2z")
    assert code == 0, err
    run = tmp_path / "runs" / "h2z"
    evaluation = json.loads((run / "eval.json").read_text())
    assert evaluation["images_A"] == 2 and evaluation["images_B"] == 3 and "unpaired" in evaluation["held_out"]
    assert "A2B/psnr" not in evaluation and "pairs" not in evaluation   # nothing compared with an unrelated image

    _, ckpt, cls, config = load_run(run)
    model = build_model(cls, config, ckpt)
    test = UnpairedDataset(data, "test", image_size=config.data.image_size, augment=False)
    with torch.no_grad():
        a = torch.stack([test[i]["A"] for i in range(2)])                 # the 2 testA images, once each
        b = torch.stack([test[i]["B"] for i in range(3)])
        psnr_a, _ = psnr_ssim(model.G_BA(model.G_AB(a)), a)
        psnr_b, _ = psnr_ssim(model.G_AB(model.G_BA(b)), b)
    assert evaluation["A2B2A/psnr"] == pytest.approx(psnr_a.mean().item(), rel=1e-5)
    assert evaluation["B2A2B/psnr"] == pytest.approx(psnr_b.mean().item(), rel=1e-5)

    code, out, err = run_cli("evaluate", run, "--json")
    assert code == 0, err
    assert json.loads(out)["B2A2B/psnr"] == pytest.approx(evaluation["B2A2B/psnr"], rel=1e-5)
