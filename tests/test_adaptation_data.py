"""The "adaptation" dataset kind: layout, items, bad layouts, and the built-in mnist2mnistm."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_adaptation, write_png
from translate.datasets.adaptation import SOURCE, TARGET, AdaptationDataset
from translate.errors import DataError


def test_training_items_pair_a_labelled_source_with_an_unlabelled_target(tmp_path):
    root = make_adaptation(tmp_path / "d", classes=("a", "b"), n_source=3, n_target=4)
    ds = AdaptationDataset(root, "train", image_size=16)
    assert ds.classes == ("a", "b") and len(ds) == 6  # max(6 source, 4 target)
    item = ds[0]
    assert set(item) == {"source", "label", "target", "source_path", "target_path"}
    assert item["source"].shape == item["target"].shape == (3, 16, 16)
    assert -1 <= item["source"].min() and item["target"].max() <= 1
    labels = [int(ds[i]["label"]) for i in range(len(ds))]
    assert labels == [0, 1, 0, 1, 0, 1]  # classes interleaved
    assert all("/target/train/" in ds[i]["target_path"] for i in range(len(ds)))
    # Target partners are random per epoch but fixed for a (seed, epoch, index).
    assert ds[2]["target_path"] == ds[2]["target_path"]
    partners = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        partners.add(ds[0]["target_path"])
    assert len(partners) > 1


def test_max_items_keeps_every_class(tmp_path):
    root = make_adaptation(tmp_path / "d", classes=("a", "b", "c"), n_source=3)
    ds = AdaptationDataset(root, "train", image_size=8, max_items=3)
    assert sorted(int(ds[i]["label"]) for i in range(3)) == [0, 1, 2] and len(ds.source) == 3


def test_test_split_holds_both_domains_with_labels(tmp_path):
    root = make_adaptation(tmp_path / "d", n_test=2)
    ds = AdaptationDataset(root, "test", image_size=8)
    domains = [int(ds[i]["domain"]) for i in range(len(ds))]
    assert domains == [SOURCE] * 4 + [TARGET] * 4
    assert {int(ds[i]["label"]) for i in range(len(ds))} == {0, 1}
    assert AdaptationDataset.has_split(root, "test")
    shutil.rmtree(root / "target" / "test")
    assert not AdaptationDataset.has_split(root, "test")


def test_grayscale_source_is_converted_to_three_channels(tmp_path):
    root = make_adaptation(tmp_path / "d")
    gray = root / "source" / "train" / "a" / "0.png"
    Image.fromarray(np.full((16, 16), 200, np.uint8), "L").save(gray)
    item = AdaptationDataset(root, "train", image_size=16)[0]
    assert item["source"].shape == (3, 16, 16)
    assert torch.allclose(item["source"], torch.full((3, 16, 16), 200 / 127.5 - 1))


def nest(folder, sub):
    """Move the images of `folder` into folder/sub/ (class folders where none belong)."""
    (folder / sub).mkdir()
    for p in list(folder.glob("*.png")):
        shutil.move(str(p), str(folder / sub / p.name))


@pytest.mark.parametrize("breakage, message", [
    (lambda r: shutil.rmtree(r / "source"), "missing source/train/"),
    (lambda r: shutil.rmtree(r / "target" / "train"), "missing target/train/"),
    (lambda r: shutil.rmtree(r / "source" / "train" / "b"), "1 class folder(s) in source/train/"),
    (lambda r: nest(r / "target" / "train", "a"), "directly, not in folders"),
    (lambda r: write_png(r / "target" / "test" / "zebra" / "0.png", seed=1), "'zebra' is not a source training class"),
    (lambda r: (r / "dataset.json").write_text('{"classes": ["a", "x"]}'), "do not match the class folders"),
    (lambda r: (r / "dataset.json").write_text("{nope"), "not valid JSON"),
])
def test_bad_layouts_are_errors_that_show_the_expected_tree(tmp_path, breakage, message):
    root = make_adaptation(tmp_path / "d")
    breakage(root)
    with pytest.raises(DataError) as err:
        for split in ("train", "test"):
            AdaptationDataset(root, split, image_size=8)
    assert message in str(err.value)
    if "does not have the adaptation layout" in str(err.value):
        assert "target/\n    train/           unlabelled" in str(err.value)


def test_an_unreadable_image_is_named(tmp_path):
    root = make_adaptation(tmp_path / "d")
    bad = root / "target" / "train" / "0.png"
    bad.write_bytes(b"not a png")
    ds = AdaptationDataset(root, "train", image_size=8)
    with pytest.raises(DataError, match="0.png: cannot read image"):
        for i in range(len(ds)):
            for epoch in range(4):
                ds.set_epoch(epoch)
                ds[i]


def test_builtin_mnist2mnistm():
    from translate.datasets.builtin import DATA_DIR, mnist2mnistm

    files = list((DATA_DIR / "mnist2mnistm").iterdir())
    assert all(f.stat().st_size < 1_000_000 for f in files)
    assert sum(f.stat().st_size for f in files) < 5_500_000
    root = mnist2mnistm()
    meta = json.loads((root / "dataset.json").read_text())
    train = AdaptationDataset(root, "train", image_size=28)
    test = AdaptationDataset(root, "test", image_size=28)
    assert train.classes == tuple(str(d) for d in range(10)) and train.domains == ("mnist", "mnistm")
    assert len(train.source) == meta["counts"]["source/train"] == 2500
    assert len(train.target) == meta["counts"]["target/train"] == 2000
    domains = [d for _, _, d in test.items]
    assert domains.count(SOURCE) == 300 and domains.count(TARGET) == 800
    # Source digits are stored grayscale; target digits are colour (photo patches).
    with Image.open(train.source[0][0]) as src, Image.open(train.target[0]) as tgt:
        assert src.mode == "L" and tgt.mode == "RGB" and src.size == tgt.size == (28, 28)
    assert not any(p.is_dir() for p in (root / "target" / "train").iterdir())
    # The target really differs from the source: its channels differ (photo colours), the source's do not.
    items = [train[i] for i in range(0, 500, 10)]
    spread = torch.stack([(it["target"] - it["target"].mean(0)).abs().mean() for it in items])
    assert spread.mean() > 0.05 and all((it["source"][0] == it["source"][1]).all() for it in items)
