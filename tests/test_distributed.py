"""A real 2-process DDP run on CPU (gloo), launched like a user would: torchrun running the
`translate fit` command line. The `ddp_probe` test model (tests/fixtures) saves each process's
final weights, so we can check the replicas stayed in sync."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed

from translate.checkpoint import load_checkpoint
from translate.testing import tiny_overrides
from translate.testing.cli_check import write_config
from translate.testing.contract import assert_same_tensors

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="torch.distributed with the gloo backend is not available in this torch build")


def torchrun(fixtures_dir, *args, cwd, env):
    """The DDP worker script (tests/fixtures/ddp_fit.py: `translate fit ARGS`) in 2 gloo processes."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
           str(fixtures_dir / "ddp_fit.py"), *map(str, args)]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_run(tmp_path, tiny_flags, unpaired_dir, fixtures_dir, subprocess_env):
    out, probe = tmp_path / "runs", tmp_path / "probe"
    probe.mkdir()
    torchrun(fixtures_dir, *tiny_flags, "--steps", 4, "--batch-size", 1, "--checkpoint-every", 2,
             "--data", unpaired_dir, "--out", out, cwd=tmp_path, env=subprocess_env(DDP_PROBE_DIR=probe))

    # Rank 0 alone writes: exactly one run directory, one metrics line per step.
    runs = list(out.iterdir())
    assert len(runs) == 1, runs
    run = runs[0]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_000002.pt", "step_000004.pt"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]

    ranks = [torch.load(probe / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [s["rank"] for s in ranks] == [0, 1] and all(s["world_size"] == 2 for s in ranks)
    assert all(all(s["wrapped"].values()) for s in ranks), "every trained network runs under DDP"
    ckpt = load_checkpoint(run / "checkpoints" / "step_000004.pt")
    assert ckpt["step"] == 4
    for net, state in ranks[0]["networks"].items():
        for key, value in state.items():
            assert torch.equal(value, ranks[1]["networks"][net][key]), f"replicas differ: {net}.{key}"
            assert torch.equal(value, ckpt["networks"][net][key]), f"checkpoint differs: {net}.{key}"
    # Training happened between the checkpoints. (DistributedSampler gives the processes disjoint
    # shards, so identical replicas mean the gradients were averaged.)
    assert any(not torch.equal(v, load_checkpoint(run / "checkpoints" / "step_000002.pt")["networks"]["G_AB"][k])
               for k, v in ckpt["networks"]["G_AB"].items())

    # A preempted multi-process job resumes exactly: as if it stopped after step 2, torchrun again.
    resumed, probe2 = tmp_path / "resumed", tmp_path / "probe2"
    shutil.copytree(run, resumed)
    (resumed / "checkpoints" / "step_000004.pt").unlink()
    probe2.mkdir()
    torchrun(fixtures_dir, "--resume", resumed, "--quiet", cwd=tmp_path, env=subprocess_env(DDP_PROBE_DIR=probe2))
    again = load_checkpoint(resumed / "checkpoints" / "step_000004.pt")
    # Each process's image pools and random state are checkpointed (rank 0's as `extra`/`rng`),
    # and a resume gives every process its own back.
    assert len(ckpt["other_ranks"]) == 1 and ckpt["other_ranks"][0]["extra"]["pool_A"]
    for part in ("networks", "optimizers", "extra", "other_ranks"):
        assert_same_tensors({part: ckpt[part]}, {part: again[part]}, "resumed")


@pytest.mark.parametrize("model, extra", [
    ("stargan", {"n_critic": 2}),   # critic-only and generator steps; the penalty's double backward
    ("pix2pix", {}),                # BatchNorm: buffers broadcast from rank 0
    ("dann", {"batch_size": 2}),    # gradient reversal; labelled + unlabelled batches
])
def test_other_model_families_keep_their_replicas_in_sync(model, extra, tmp_path, data_for_kind, fixtures_dir,
                                                          subprocess_env):
    from translate.restore import model_class

    cls = model_class(model)
    out, probe = tmp_path / "runs", tmp_path / "probe"
    probe.mkdir()
    config = write_config(tmp_path / "tiny.yaml", tiny_overrides(cls, steps=4, checkpoint_every=2, **extra))
    torchrun(fixtures_dir, "--plugin", f"ddp_probe_{model}", "--config", config, "--data",
             data_for_kind(cls.dataset_kind), "--out", out, "--quiet", cwd=tmp_path,
             env=subprocess_env(DDP_PROBE_DIR=probe))
    ranks = [torch.load(probe / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert all(all(s["wrapped"].values()) for s in ranks), "every trained network runs under DDP"
    (run,) = out.iterdir()
    ckpt = load_checkpoint(run / "checkpoints" / "step_000004.pt")
    for net, state in ranks[0]["networks"].items():
        for key, value in state.items():
            assert torch.equal(value, ckpt["networks"][net][key]), f"checkpoint differs: {net}.{key}"
        # The weights are in sync. BatchNorm statistics are not: each process normalizes its own
        # batch, as a single process with that batch size does (no SyncBatchNorm), and rank 0's
        # are the ones checkpointed.
        for key in ranks[0]["parameters"][net]:
            assert torch.equal(state[key], ranks[1]["networks"][net][key]), f"replicas differ: {net}.{key}"
    # Every network trained between the checkpoints, so equal replicas mean averaged gradients.
    half = load_checkpoint(run / "checkpoints" / "step_000002.pt")["networks"]
    for net, state in ckpt["networks"].items():
        assert any(not torch.equal(v, half[net][k]) for k, v in state.items()), f"{net} did not train"
