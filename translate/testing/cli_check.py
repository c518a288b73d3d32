"""The CLI end-to-end contract check: `translate fit`, `export`, `predict`, `evaluate` at a tiny size.

The commands run in a fresh interpreter (`python -m translate.cli`) when the plugin is visible
to one (built-in or installed with an entry point): that also proves the plugin is found the way
users find it. A plugin registered only in this process (`plugin_registered`), or a caller that
asks for it (`subprocess=False`: the toolkit's own suite, which pays for torch's import only once),
runs them through `translate.cli.main` in this process instead.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from translate.registry import get_plugins

CLI_STEPS = 2
TIMEOUT_S = 600
PREDICT_SIZE = (46, 30)   # (w, h): not a multiple of the usual size multiples, so padding is exercised
PER_RUN_KEYS = ("data", "out", "name")   # passed as flags; everything else goes into --config


def cli_runner(model_name: str, subprocess_ok: bool = True):
    """`run(*args, cwd) -> (exit code, stdout, stderr)` for the `translate` command."""
    plugins = get_plugins()
    in_process_only = {name for _, name, _ in plugins.extra_plugins}
    if subprocess_ok and plugins.models.get(model_name).plugin not in in_process_only:
        def run(*args, cwd):
            proc = subprocess.run([sys.executable, "-m", "translate.cli", *map(str, args)], cwd=cwd,
                                  env=dict(os.environ), capture_output=True, text=True, timeout=TIMEOUT_S)
            return proc.returncode, proc.stdout, proc.stderr
    else:
        def run(*args, cwd):
            from translate.cli import main

            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), working_dir(cwd):
                try:
                    code = main([str(a) for a in args])
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 1
            return code, out.getvalue(), err.getvalue()
    return run


@contextlib.contextmanager
def working_dir(path):
    """contextlib.chdir, which Python 3.10 lacks."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def write_png(path: Path, size=PREDICT_SIZE, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def write_config(path: Path, settings: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({k: v for k, v in settings.items() if k not in PER_RUN_KEYS}))
    return path


def check_cli(contract) -> str:
    """fit -> export -> predict (each exported file, by its task) -> evaluate; returns notes."""
    from translate.export import runtime
    from translate.export.predict import RUNNERS

    base = contract.workdir / "cli"
    shutil.rmtree(base, ignore_errors=True)   # a check run again starts over
    base.mkdir(parents=True)
    run = cli_runner(contract.name, contract.cli_subprocess)
    settings = contract.settings(steps=CLI_STEPS)
    config = write_config(base / "tiny.yaml", settings)
    data = ["--data", settings["data"]] if settings.get("data") else []
    run_dir = base / "runs" / "cli"

    def ok(*args):
        code, out, err = run(*args, cwd=base)
        assert code == 0, f"`translate {' '.join(map(str, args))}` exited {code}:\n{err[-2000:]}"
        return out

    ok("fit", "--plugin", contract.name, "--config", config, *data, "--out", base / "runs", "--name", "cli", "--quiet")
    for part in ("config.yaml", "metrics.jsonl", f"checkpoints/step_{CLI_STEPS:06d}.pt", "index.html"):
        assert (run_dir / part).is_file(), f"`translate fit` did not write {part}"
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records and records[-1]["step"] == CLI_STEPS

    out = ok("export", run_dir)
    files = sorted((run_dir / "exports").glob("*.onnx"))
    assert files and all(str(f) in out for f in files), f"`translate export` printed {out!r}"

    notes = []
    image = write_png(base / "inputs" / "photo.png")
    for file in files:
        task = runtime.read_metadata(file)["task"]
        if task == "image-to-image":
            target = base / "predicted" / file.stem
            ok("predict", file, image, "--output", target)
            with Image.open(target / "photo.png") as result:
                assert result.size == PREDICT_SIZE, f"predict with {file.name} changed the size to {result.size}"
        else:
            # Other tasks take other inputs: check that the torch-free runtime can run the file.
            runtime.load(file, providers=["CPUExecutionProvider"])
            runnable = "`translate predict` runs it" if task in RUNNERS else "no `translate predict` runner"
            notes.append(f"{file.name}: task {task!r} loads in the runtime ({runnable}); predict not run")

    kind_cls = get_plugins().dataset_kinds.get(contract.model_cls.dataset_kind).load()
    from translate.data import held_out_split, resolve_root

    root, _ = resolve_root(settings.get("data") or contract.model_cls.default_data, contract.model_cls.dataset_kind,
                           get_plugins())
    if held_out_split(kind_cls, root):
        metrics = json.loads(ok("evaluate", run_dir, "--json"))
        assert metrics["step"] == CLI_STEPS
        bad = {k: v for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)}
        assert not bad, f"`translate evaluate` gave non-finite numbers: {bad}"
    else:
        notes.append("the data has no held-out split: evaluate not run")
    return "passed" + (f" ({'; '.join(notes)})" if notes else "")
