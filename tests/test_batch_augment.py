"""On-device batch augmentation (kornia crop + flip, `--augment-with kornia`), run on the CPU:
the same code path a CUDA run takes by default."""
from __future__ import annotations

import shutil

import pytest
import torch
import yaml

import translate
from translate.checkpoint import load_checkpoint
from translate.datasets.batch_augment import BatchCropFlip
from translate.datasets.unpaired import UnpairedDataset
from translate.errors import ConfigError


def windows(image: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Every size x size window of a (C, H, W) image, and its mirror image."""
    _, h, w = image.shape
    found = []
    for y in range(h - size + 1):
        for x in range(w - size + 1):
            crop = image[:, y:y + size, x:x + size]
            found += [crop, crop.flip(-1)]
    return found


def is_crop_of(out: torch.Tensor, image: torch.Tensor) -> bool:
    return any(torch.equal(out, win) for win in windows(image, out.shape[-1]))


def test_grouped_keys_share_one_crop_and_groups_are_independent():
    torch.manual_seed(0)
    a = torch.rand(8, 3, 10, 10)
    batch = {"A": a, "B": a.clone(), "C": a.clone(), "A_path": ["x"] * 8}
    out = BatchCropFlip((("A", "B"), ("C",)), 6)(batch, seed=1)
    assert out["A"].shape == (8, 3, 6, 6) and out["A_path"] == batch["A_path"]
    assert torch.equal(out["A"], out["B"])                 # one group: the same crop and flip
    assert not torch.equal(out["A"], out["C"])             # another group: its own
    for i in range(8):
        assert is_crop_of(out["A"][i], a[i]) and is_crop_of(out["C"][i], a[i])


def test_parameters_depend_only_on_the_seed_and_leave_the_global_rng_alone():
    aug = BatchCropFlip((("A",),), 5)
    x = {"A": torch.rand(6, 1, 9, 9)}
    torch.manual_seed(123)
    first = aug(x, seed=7)["A"]
    after = torch.rand(3)
    torch.manual_seed(123)
    again = aug(x, seed=7)["A"]
    assert torch.equal(first, again) and torch.equal(after, torch.rand(3))
    assert not torch.equal(first, aug(x, seed=8)["A"])


def test_dataset_only_resizes_when_the_batch_is_augmented(unpaired_dir):
    ds = UnpairedDataset(unpaired_dir, image_size=16, load_size=20, batch_augment=True)
    item = ds[0]
    assert item["A"].shape == (3, 20, 20) and item["B"].shape == (3, 20, 20)
    assert UnpairedDataset(unpaired_dir, image_size=16, load_size=20)[0]["A"].shape == (3, 16, 16)


def test_fit_with_kornia_augmentation_resumes_exactly(unpaired_dir, tiny, tmp_path):
    from translate.plugins.cyclegan.model import CycleGAN

    runs = tmp_path / "runs"
    settings = tiny(CycleGAN, data=str(unpaired_dir), out=str(runs), steps=4, checkpoint_every=2,
                    keep_checkpoints=5, augment_with="kornia")
    full = translate.fit("cyclegan", quiet=True, name="full", **settings)
    assert yaml.safe_load((full.run_dir / "config.yaml").read_text())["data"]["augment_with"] == "kornia"
    copy = runs / "stopped"
    shutil.copytree(full.run_dir, copy)
    (copy / "checkpoints" / "step_000004.pt").unlink()
    translate.fit(resume=str(copy), quiet=True)
    a = load_checkpoint(full.run_dir / "checkpoints" / "step_000004.pt")["networks"]
    b = load_checkpoint(copy / "checkpoints" / "step_000004.pt")["networks"]
    for net in a:
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), f"{net}/{key}"


def test_auto_is_albumentations_on_the_cpu(unpaired_dir, tiny, tmp_path):
    from translate.plugins.cyclegan.model import CycleGAN

    result = translate.fit("cyclegan", quiet=True, **tiny(CycleGAN, data=str(unpaired_dir), out=str(tmp_path)))
    assert yaml.safe_load((result.run_dir / "config.yaml").read_text())["data"]["augment_with"] == "albumentations"


def test_kornia_for_a_kind_without_batch_augmentation_is_refused():
    from types import SimpleNamespace

    from translate.data import batch_augmenter

    class Plain:
        kind = "plain"

    with pytest.raises(ConfigError, match="--augment-with kornia: dataset kind 'plain'"):
        batch_augmenter(Plain, SimpleNamespace(augment_with="kornia", image_size=8), torch.device("cpu"))
    assert batch_augmenter(Plain, SimpleNamespace(augment_with="auto", image_size=8), torch.device("cuda")) is None
