"""The "paired" dataset kind (both layouts, shared augmentation, errors that name the files), the
built-in Fluent pairs, and the Fluent build helpers."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_paired, write_png
from translate.datasets.paired import PairedDataset
from translate.errors import DataError


def write_ab_folders(root: Path, names=("x", "y", "z"), split="train") -> Path:
    """A/<split>/ + B/<split>/ with matching names; B is A's colour negative."""
    for i, name in enumerate(names):
        a = write_png(root / "A" / split / f"{name}.png", seed=i, size=(40, 40))
        (root / "B" / split).mkdir(parents=True, exist_ok=True)
        Image.fromarray(255 - np.asarray(Image.open(a))).save(root / "B" / split / f"{name}.png")
    return root


def assert_negatives(item, atol=0.02):
    """B was written as 255 - A, so A + B = 0 in [-1, 1] wherever both saw the same transform."""
    assert torch.allclose(item["A"] + item["B"], torch.zeros_like(item["A"]), atol=atol)


def test_side_by_side_pairs_share_the_random_crop_and_flip(tmp_path):
    root = make_paired(tmp_path / "data", n_train=2)
    ds = PairedDataset(root, "train", image_size=24, load_size=32, seed=3)
    assert ds.side_by_side and len(ds) == 2 and ds.info().kind == "paired"
    crops = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        item = ds[0]
        assert item["A"].shape == item["B"].shape == (3, 24, 24)
        assert_negatives(item)
        crops.add(item["A"].numpy().tobytes())
    assert len(crops) > 1, "the augmentation never changed: not random"
    ds.set_epoch(1)
    assert torch.equal(ds[1]["A"], ds[1]["A"]), "an item is a function of (seed, epoch, index)"


def test_test_split_is_only_resized(tmp_path):
    root = make_paired(tmp_path / "data")
    ds = PairedDataset(root, "test", image_size=16)
    first = ds[0]["A"]
    ds.set_epoch(5)
    assert torch.equal(ds[0]["A"], first) and first.shape == (3, 16, 16)
    assert PairedDataset.has_split(root, "test") and not PairedDataset.has_split(root, "val")


def test_a_and_b_folders_pair_by_file_name(tmp_path):
    root = write_ab_folders(tmp_path / "data")
    (root / "dataset.json").write_text(json.dumps({"domains": ["photo", "negative"]}))
    ds = PairedDataset(root, "train", image_size=32)
    assert not ds.side_by_side and len(ds) == 3
    assert [Path(p).stem for p in ds.paths_b] == ["x", "y", "z"]
    assert ds.info().domains == ("photo", "negative")
    for i in range(3):
        assert_negatives(ds[i])
        assert Path(ds[i]["A_path"]).name == Path(ds[i]["B_path"]).name


def test_a_pair_without_a_partner_is_named(tmp_path):
    root = write_ab_folders(tmp_path / "data")
    (root / "B" / "train" / "y.png").unlink()
    write_png(root / "B" / "train" / "w.png", seed=9, size=(40, 40))
    with pytest.raises(DataError, match=r"only in A: y; only in B: w"):
        PairedDataset(root, "train", image_size=32)


def test_pairs_that_differ_in_size_are_named(tmp_path):
    root = write_ab_folders(tmp_path / "data")
    write_png(root / "B" / "train" / "z.png", seed=9, size=(48, 40))
    with pytest.raises(DataError, match=r"z \(A 40x40, B 48x40\)"):
        PairedDataset(root, "train", image_size=32)


def test_sizes_are_compared_upright(tmp_path):
    """A phone photo stored 48x40 with EXIF Orientation 6 is 40x48 upright: it pairs with a
    40x48 partner, not with a 48x40 one."""
    root = write_ab_folders(tmp_path / "data", names=("x",))
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (48, 40)).save(root / "A" / "train" / "x.jpg", exif=exif)
    (root / "A" / "train" / "x.png").unlink()
    Image.new("RGB", (40, 48)).save(root / "B" / "train" / "x.png")
    assert len(PairedDataset(root, "train", image_size=32)) == 1
    Image.new("RGB", (48, 40)).save(root / "B" / "train" / "x.png")
    with pytest.raises(DataError, match=r"x \(A 40x48, B 48x40\)"):
        PairedDataset(root, "train", image_size=32)


def test_side_by_side_file_with_odd_width_is_named(tmp_path):
    root = make_paired(tmp_path / "data")
    write_png(root / "train" / "odd.png", seed=1, size=(33, 16))
    with pytest.raises(DataError, match=r"even width.*odd\.png"):
        PairedDataset(root, "train", image_size=16)


def test_wrong_layout_shows_the_expected_tree(tmp_path):
    (tmp_path / "data" / "trainA").mkdir(parents=True)
    with pytest.raises(DataError, match=r"(?s)no train/ folder.*A/train/.*Found in .*: trainA/") as err:
        PairedDataset(tmp_path / "data", "train")
    assert "side by side" in str(err.value)


def test_cli_reports_a_bad_paired_folder_and_exits_non_zero(run_cli, tmp_path):
    root = write_ab_folders(tmp_path / "data")
    (root / "A" / "train" / "x.png").write_bytes(b"not an image")
    code, out, err = run_cli("fit", "--plugin", "pix2pix", "--data", root, "--device", "cpu", "--quiet")
    assert code != 0 and "x.png" in err and "Traceback" not in err


def test_builtin_fluent_pairs_are_silhouettes_and_colour_images():
    from translate.datasets.builtin import fluent_silhouette2flat

    root = fluent_silhouette2flat()
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["kind"] == "paired" and meta["image_size"] == 64
    train, test = PairedDataset(root, "train", image_size=64), PairedDataset(root, "test", image_size=64)
    assert len(train) == meta["counts"]["train"] >= 900 and len(test) == meta["counts"]["test"] == 200
    assert not {Path(p).name for p in train.paths_a} & {Path(p).name for p in test.paths_a}, "held out"
    assert (root / "LICENSE.md").read_text().count("MIT") >= 2
    for i in range(0, 200, 40):
        item = test[i]
        a, b = item["A"], item["B"]
        assert not torch.equal(a, b)
        # A: black on white, no colour; B: coloured (channel spread well above A's)
        assert (a.max(0).values - a.min(0).values).mean() < 0.05
    spread_b = torch.stack([(test[i]["B"].max(0).values - test[i]["B"].min(0).values).mean() for i in range(20)])
    assert spread_b.mean() > 0.1


def test_fluent_helpers_find_and_render_svgs(tmp_path):
    pytest.importorskip("cairosvg", reason="cairosvg is a build-time tool (pip install cairosvg)")
    from translate.datasets.fluent_emoji import fluent_svgs, render_svg

    root = tmp_path / "package"
    for style, colour in (("flat", "#ff0000"), ("high-contrast", "#212121")):
        folder = root / "icons" / style
        folder.mkdir(parents=True)
        (folder / "red-square.svg").write_text(
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect x="8" y="8" width="16" '
            f'height="16" fill="{colour}"/></svg>')
    svgs = fluent_svgs(root, "flat")
    assert list(svgs) == ["red-square"]
    img = render_svg(svgs["red-square"], 32)
    arr = np.asarray(img)
    assert img.mode == "RGB" and arr.shape == (32, 32, 3)
    assert tuple(arr[16, 16]) == (255, 0, 0) and tuple(arr[2, 2]) == (255, 255, 255)  # over white
    assert np.array_equal(arr, np.asarray(render_svg(svgs["red-square"], 32)))  # deterministic
    with pytest.raises(ValueError, match="unknown Fluent style"):
        fluent_svgs(root, "3d")
