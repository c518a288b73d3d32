"""The "multidomain" dataset kind (a folder per domain, or a CelebA-style attribute table), its
layout validation, and the built-in emoji_styles data, on real image files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from translate.config import DataConfig
from translate.data import make_dataset
from translate.datasets import builtin
from translate.datasets.multidomain import MultiDomainDataset
from translate.datasets.unpaired import UnpairedDataset
from translate.errors import ConfigError, DataError

SIZE = 16


def tree(root: Path, png, train: dict, test: dict | None = None) -> Path:
    """train/test: {domain: number of images (or a list of names)}."""
    for split, spec in (("train", train), ("test", test or {})):
        for k, (domain, names) in enumerate(spec.items()):
            names = [f"{domain}{i}" for i in range(names)] if isinstance(names, int) else names
            (root / split / domain).mkdir(parents=True, exist_ok=True)
            for i, name in enumerate(names):
                png(root / split / domain / f"{name}.png", seed=100 * k + i, size=(20, 24))
    return root


def celeba(root: Path, png, rows: int = 30) -> Path:
    """An attribute table with CelebA's format: a count line, the names, `file 1 -1 ...` rows."""
    names = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Smiling", "Young"]
    lines = [str(rows), " ".join(names)]
    for i in range(rows):
        png(root / "images" / f"{i:06d}.jpg", seed=i)
        values = [1 if (i + k) % 3 == 0 else -1 for k in range(len(names))]
        lines.append(f"{i:06d}.jpg " + " ".join(f"{v:2d}" for v in values))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return root


# -- a folder per domain ---------------------------------------------------------------------------

def test_folder_layout_lists_domains_with_counts_and_gives_one_hot_labels(tmp_path, png):
    root = tree(tmp_path / "d", png, {"happy": 3, "angry": 2, "sad": 1})
    ds = MultiDomainDataset(root, image_size=SIZE, augment=False)
    assert ds.domains == ["angry", "happy", "sad"] and len(ds) == 6
    assert ds.counts() == {"angry": 2, "happy": 3, "sad": 1}
    assert ds.describe() == "train domains: angry (2), happy (3), sad (1)"
    item = ds[2]
    assert item["image"].shape == (3, SIZE, SIZE) and -1 <= item["image"].min() <= item["image"].max() <= 1
    assert item["domain"] == 1 and item["label"].tolist() == [0.0, 1.0, 0.0] and "happy" in item["path"]
    info = ds.info()
    assert info.kind == "multidomain" and info.domains == ("angry", "happy", "sad") and not info.multi_label


def test_dataset_json_fixes_the_domain_order_and_must_name_the_folders(tmp_path, png):
    root = tree(tmp_path / "d", png, {"a": 1, "b": 1})
    (root / "dataset.json").write_text(json.dumps({"domains": ["b", "a"]}))
    assert MultiDomainDataset(root, image_size=SIZE).domains == ["b", "a"]
    (root / "dataset.json").write_text(json.dumps({"domains": ["b", "c"]}))
    with pytest.raises(DataError, match="must name exactly the domain folders found: a, b"):
        MultiDomainDataset(root, image_size=SIZE)


def test_augmentation_is_a_seeded_flip_per_item_and_epoch(tmp_path, png):
    root = tree(tmp_path / "d", png, {"a": 4, "b": 4})
    ds = MultiDomainDataset(root, image_size=SIZE, seed=3)
    plain = MultiDomainDataset(root, image_size=SIZE, augment=False)
    same = [torch.equal(ds[i]["image"], plain[i]["image"]) for i in range(8)]
    flipped = [torch.equal(ds[i]["image"], plain[i]["image"].flip(-1)) for i in range(8)]
    assert all(s or f for s, f in zip(same, flipped)) and any(flipped) and any(same)
    assert torch.equal(ds[5]["image"], MultiDomainDataset(root, image_size=SIZE, seed=3)[5]["image"])


def test_held_out_counterpart_is_the_same_name_in_the_target_domain(tmp_path, png):
    root = tree(tmp_path / "d", png, {"a": 1, "b": 1}, test={"a": ["x", "y"], "b": ["x"]})
    ds = MultiDomainDataset(root, "test", image_size=SIZE)
    x_in_a = next(i for i in range(len(ds)) if ds[i]["path"].endswith("a/x.png"))
    y_in_a = next(i for i in range(len(ds)) if ds[i]["path"].endswith("a/y.png"))
    x_in_b = next(i for i in range(len(ds)) if ds[i]["path"].endswith("b/x.png"))
    assert torch.equal(ds.counterpart(x_in_a, 1), ds[x_in_b]["image"])
    assert ds.counterpart(y_in_a, 1) is None
    assert MultiDomainDataset.has_split(root, "test") and not MultiDomainDataset.has_split(root, "val")


# -- layout validation -------------------------------------------------------------------------------

def test_one_domain_is_refused_with_the_found_counts_and_the_expected_tree(tmp_path, png):
    root = tree(tmp_path / "d", png, {"only": 3})
    with pytest.raises(DataError) as err:
        MultiDomainDataset(root, image_size=SIZE)
    msg = str(err.value)
    assert "at least two domain folders in train/, found 1" in msg
    assert "only/ (3 images)" in msg and "<domain 1>/" in msg and "attribute table" in msg


def test_an_empty_domain_is_refused_by_name(tmp_path, png):
    root = tree(tmp_path / "d", png, {"a": 2, "b": 2})
    (root / "train" / "empty").mkdir()
    (root / "train" / "empty" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"domain folder train/empty/ contains no images[\s\S]*empty/ \(0 images\)"):
        MultiDomainDataset(root, image_size=SIZE)


def test_images_directly_in_train_are_pointed_out(tmp_path, png):
    """The classic mistake: a flat folder of images, no domain folders."""
    for i in range(3):
        png(tmp_path / "d" / "train" / f"{i}.png", seed=i)
    with pytest.raises(DataError, match=r"found 0[\s\S]*3 images directly in train/ \(they must be inside a domain"):
        MultiDomainDataset(tmp_path / "d", image_size=SIZE)


def test_missing_train_folder_and_missing_root(tmp_path, png):
    png(tmp_path / "d" / "trainA" / "a.png", seed=0)
    with pytest.raises(DataError, match=r"no train/ folder and no attribute table[\s\S]*trainA/"):
        MultiDomainDataset(tmp_path / "d", image_size=SIZE)
    with pytest.raises(DataError, match="does not exist"):
        MultiDomainDataset(tmp_path / "nowhere", image_size=SIZE)


def test_domain_folders_one_level_too_high_get_a_hint(tmp_path, png):
    """Domain folders right in --data (no train/): the error says where they belong; pointed at a
    train/ folder itself (as the reference implementation is), it names the parent to pass."""
    for d in ("happy", "sad"):
        png(tmp_path / "d" / d / "0.png", seed=0)
    with pytest.raises(DataError, match=r"look like domains: move them into .*d/train/"):
        MultiDomainDataset(tmp_path / "d", image_size=SIZE)
    (tmp_path / "d").rename(tmp_path / "train")
    with pytest.raises(DataError, match=r"look like domains: .* pass its parent \(--data .*\)") as err:
        MultiDomainDataset(tmp_path / "train", image_size=SIZE)
    assert f"--data {tmp_path})" in str(err.value)


def test_test_split_must_have_the_training_domains(tmp_path, png):
    root = tree(tmp_path / "d", png, {"a": 1, "b": 1}, test={"a": 1, "c": 1})
    with pytest.raises(DataError, match=r"test/ must have the same domain folders as train/ \(train/: a, b\)"):
        MultiDomainDataset(root, "test", image_size=SIZE)


def test_cli_refuses_a_bad_layout_before_creating_a_run(tmp_path, png, run_cli):
    root = tree(tmp_path / "d", png, {"only": 2})
    code, _, err = run_cli("fit", "--plugin", "stargan", "--data", root, "--out", tmp_path / "runs",
                           "--steps", "1", "--device", "cpu", "--quiet")
    assert code != 0 and "at least two domain folders" in err and "only/ (2 images)" in err
    assert not (tmp_path / "runs").exists()


# -- an attribute table ------------------------------------------------------------------------------

def test_attribute_table_defaults_to_the_papers_attributes_and_splits_like_the_reference(tmp_path, png):
    root = celeba(tmp_path / "c", png, rows=30)
    train = MultiDomainDataset(root, image_size=SIZE)
    test = MultiDomainDataset(root, "test", image_size=SIZE)
    assert train.domains == ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"] and train.multi_label
    assert len(train) == 27 and len(test) == 3  # 10% (at most 2,000) held out
    assert not {it[0] for it in train.items} & {it[0] for it in test.items}
    item = train[0]
    row = int(Path(item["path"]).stem)
    expected = [1.0 if (row + k) % 3 == 0 else 0.0 for k in (0, 1, 2, 3, 5)]
    assert item["label"].tolist() == expected and item["domain"] == -1 and train.info().multi_label


def test_domains_flag_picks_attributes(tmp_path, png):
    root = celeba(tmp_path / "c", png)
    ds = make_dataset(MultiDomainDataset, root, "train", DataConfig(image_size=SIZE, domains="Smiling, Male"),
                      seed=0, augment=False)
    assert ds.domains == ["Smiling", "Male"] and ds[0]["label"].shape == (2,)
    with pytest.raises(ConfigError, match=r"--domains: Smilling not in .*Did you mean: Smiling\?.*Attributes: Black_Hair"):
        MultiDomainDataset(root, image_size=SIZE, domains=["Smilling", "Male"])
    with pytest.raises(ConfigError, match="at least two attributes"):
        MultiDomainDataset(root, image_size=SIZE, domains=["Male"])


def test_attribute_errors_name_the_problem(tmp_path, png):
    root = celeba(tmp_path / "c", png, rows=10)
    table = root / "list_attr_celeba.txt"
    lines = table.read_text().splitlines()
    table.write_text("\n".join(lines[:2] + [ln.replace(" 1", "-1") for ln in lines[2:]]) + "\n")
    with pytest.raises(DataError, match=r"attributes Black_Hair, Blond_Hair.* on in no train image"):
        MultiDomainDataset(root, image_size=SIZE)
    (root / "images" / "000003.jpg").unlink()
    table.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"listed image\(s\) not found .* 000003.jpg"):
        MultiDomainDataset(root, image_size=SIZE)


def test_domains_flag_is_refused_where_it_would_be_ignored(tmp_path, png, unpaired_dir):
    root = tree(tmp_path / "d", png, {"a": 1, "b": 1})
    with pytest.raises(ConfigError, match="every folder is a domain"):
        MultiDomainDataset(root, image_size=SIZE, domains=["a", "b"])
    with pytest.raises(ConfigError, match="--domains x,y: only multi-domain data chooses domains"):
        make_dataset(UnpairedDataset, unpaired_dir, "train", DataConfig(image_size=SIZE, domains="x,y"),
                     seed=0, augment=False)


# -- the built-in emoji_styles ------------------------------------------------------------------------

def test_builtin_emoji_styles_has_three_styles_and_held_out_emoji_in_every_style():
    root = builtin.emoji_styles()
    meta = json.loads((root / "dataset.json").read_text())
    train = MultiDomainDataset(root, image_size=64, augment=False)
    test = MultiDomainDataset(root, "test", image_size=64, augment=False)
    assert train.domains == meta["domains"] == ["noto", "twemoji", "fluent"]
    assert min(train.counts().values()) >= 300 and test.counts() == {"noto": 100, "twemoji": 100, "fluent": 100}
    names = {s: {p.name for p in (root / "test" / s).iterdir()} for s in train.domains}
    assert names["noto"] == names["twemoji"] == names["fluent"]
    train_names = [{p.name for p in (root / "train" / s).iterdir()} for s in train.domains]
    assert not (train_names[0] & train_names[1]) and not (train_names[0] & train_names[2])  # unpaired
    assert not names["noto"] & set().union(*train_names)  # held-out emoji are never trained on
    assert test[0]["domain"] == 0
    for k in (1, 2):  # the same emoji in the other styles: there, and different pixels
        other = test.counterpart(0, k)
        assert other is not None and not torch.equal(other, test[0]["image"])
    data_dir = Path(builtin.DATA_DIR) / "emoji_styles"
    assert sum(p.stat().st_size for p in data_dir.iterdir()) < 5_000_000
    assert max(p.stat().st_size for p in data_dir.iterdir()) < 1_000_000
    assert "CC BY 4.0" in (data_dir / "LICENSE.md").read_text() and "MIT" in (data_dir / "LICENSE.md").read_text()
