"""The "unpaired" dataset kind and the built-in noto2twemoji data, on real image files."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from translate.datasets import builtin
from translate.datasets.unpaired import UnpairedDataset
from translate.errors import ConfigError, DataError

SIZE = 16


def noise(seed, h=20, w=24):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def write(folder: Path, name: str, arr: np.ndarray, mode=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode).save(folder / name) if mode else Image.fromarray(arr).save(folder / name)
    return folder / name


def make_tree(root: Path, n_a=3, n_b=5, test_names=("x", "y")) -> Path:
    for i in range(n_a):
        write(root / "trainA", f"a{i}.png", noise(i))
    for i in range(n_b):
        write(root / "trainB", f"b{i}.jpg", noise(100 + i))
    for k, name in enumerate(test_names):
        write(root / "testA", f"{name}.png", noise(200 + k))
        write(root / "testB", f"{name}.png", 255 - noise(200 + k))  # B = inverted A: checks pairing
    return root


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "data")


# -- layout errors ------------------------------------------------------------------------------
def test_missing_root(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        UnpairedDataset(tmp_path / "nope")


def test_root_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(DataError, match="not a directory"):
        UnpairedDataset(tmp_path / "f")


def test_missing_trainB_shows_expected_tree_and_found(tmp_path):
    write(tmp_path / "trainA", "a.png", noise(0))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError) as err:
        UnpairedDataset(tmp_path)
    msg = str(err.value)
    assert "missing trainB/" in msg and UnpairedDataset.EXPECTED_TREE in msg
    assert "trainA/" in msg.split("Found in")[1] and "notes.txt" in msg


def test_empty_domain_is_named(tmp_path):
    write(tmp_path / "trainA", "a.png", noise(0))
    (tmp_path / "trainB").mkdir()
    (tmp_path / "trainB" / "readme.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"trainB contains no images .*; it holds files of other types \(\.txt\)$"):
        UnpairedDataset(tmp_path)


def test_a_domain_with_images_in_a_subfolder_or_of_another_type_says_so(tmp_path):
    write(tmp_path / "trainA", "a.png", noise(0))
    write(tmp_path / "trainB" / "zebras", "z.png", noise(1))        # one level too deep
    (tmp_path / "trainB" / "IMG_0001.HEIC").write_bytes(b"")        # an iPhone photo
    with pytest.raises(DataError) as info:
        UnpairedDataset(tmp_path)
    assert str(info.value).endswith("; it holds subfolders (zebras), which are not searched (put the images "
                                    "directly in it), and files of other types (.heic)")


def test_has_split(tree, tmp_path):
    assert UnpairedDataset.has_split(tree, "train") and UnpairedDataset.has_split(tree, "test")
    assert not UnpairedDataset.has_split(tmp_path / "missing", "train")
    (tree / "valA").mkdir()
    assert not UnpairedDataset.has_split(tree, "val")


# -- decoding ------------------------------------------------------------------------------------
def test_grayscale_rgba_and_16bit_are_converted(tmp_path):
    write(tmp_path / "trainA", "gray.png", np.full((20, 24), 0, np.uint8), "L")
    rgba = np.zeros((20, 24, 4), np.uint8)  # fully transparent: composited over white
    write(tmp_path / "trainA", "rgba.png", rgba, "RGBA")
    write(tmp_path / "trainB", "deep.png", np.full((20, 24), 65535, np.uint16))  # 16-bit white
    assert Image.open(tmp_path / "trainB" / "deep.png").mode.startswith("I;16")
    for channels in (3, 1):
        ds = UnpairedDataset(tmp_path, image_size=SIZE, channels=channels, augment=False)
        by_name = {Path(ds[i]["A_path"]).name: ds[i] for i in range(len(ds))}
        assert by_name["gray.png"]["A"].shape == (channels, SIZE, SIZE)
        assert torch.allclose(by_name["gray.png"]["A"], torch.tensor(-1.0))
        assert torch.allclose(by_name["rgba.png"]["A"], torch.tensor(1.0))
        assert torch.allclose(by_name["gray.png"]["B"], torch.tensor(1.0))


def test_a_photo_tagged_with_an_exif_orientation_is_turned_upright(tmp_path):
    """A phone stores a portrait photo as a landscape JPEG with Orientation 6 (turn 90 degrees
    clockwise to view); decoding gives the image as the user sees it."""
    from translate.imageio import load_image

    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = 255                                  # left half white as stored
    exif = Image.Exif()
    exif[0x0112] = 6                                      # Orientation: rotate 90 CW to display
    Image.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = load_image(tmp_path / "phone.jpg")
    assert upright.shape == (40, 20, 3)                   # portrait
    assert upright[:15].mean() > 200 and upright[25:].mean() < 50   # the white half is now on top


def test_corrupt_image_is_named(tree):
    (tree / "trainA" / "a1.png").write_bytes(b"this is not a png")
    ds = UnpairedDataset(tree, image_size=SIZE)
    ds[0]  # other files still load
    with pytest.raises(DataError, match="a1.png"):
        ds[1]


# -- items ---------------------------------------------------------------------------------------
def test_shape_range_len_and_info(tree):
    (tree / "dataset.json").write_text(json.dumps({"domains": ["horse", "zebra"]}))
    ds = UnpairedDataset(tree, image_size=SIZE)
    assert len(ds) == 5  # max(len(A), len(B))
    for i in range(len(ds)):
        item = ds[i]
        for k in "AB":
            assert item[k].dtype == torch.float32 and item[k].shape == (3, SIZE, SIZE)
            assert item[k].min() >= -1 and item[k].max() <= 1
        assert Path(item["A_path"]).name == f"a{i % 3}.png" and "trainB" in item["B_path"]
    info = ds.info()
    assert (info.kind, info.channels, info.image_size, info.domains) == ("unpaired", 3, SIZE, ("horse", "zebra"))
    assert UnpairedDataset(tree, image_size=SIZE, max_items=2).__len__() == 2
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_same_seed_epoch_index_gives_identical_tensors(tree):
    one, two = UnpairedDataset(tree, image_size=SIZE, seed=3), UnpairedDataset(tree, image_size=SIZE, seed=3)
    for i in reversed(range(len(one))):  # order of access must not matter
        a, b = one[i], two[i]
        assert torch.equal(a["A"], b["A"]) and torch.equal(a["B"], b["B"]) and a["B_path"] == b["B_path"]
        assert torch.equal(one[i]["A"], a["A"])  # and repeated access is stable

    def items(ds):
        return [torch.cat([ds[i]["A"], ds[i]["B"]]) for i in range(len(ds))]

    before = items(one)
    one.set_epoch(1)
    assert any(not torch.equal(x, y) for x, y in zip(before, items(one)))  # new crops/partners
    one.set_epoch(0)
    assert all(torch.equal(x, y) for x, y in zip(before, items(one)))
    other_seed = UnpairedDataset(tree, image_size=SIZE, seed=4)
    assert any(not torch.equal(x, y) for x, y in zip(before, items(other_seed)))


def test_eval_is_a_plain_resize(tree):
    ds = UnpairedDataset(tree, "test", image_size=SIZE)  # test split: never randomly augmented
    first = ds[0]["A"]
    ds.set_epoch(7)
    assert torch.equal(ds[0]["A"], first)


# -- aligned pairs -------------------------------------------------------------------------------
def test_aligned_pairs_share_names_and_augmentation(tree):
    ds = UnpairedDataset(tree, "test", image_size=SIZE, aligned=True)
    assert len(ds) == 2
    for i in range(len(ds)):
        item = ds[i]
        assert Path(item["A_path"]).name == Path(item["B_path"]).name
    # Paired train data gets the same random crop/flip on both halves (B is inverted A).
    for name in ("x", "y"):
        write(tree / "trainA", f"{name}.png", np.asarray(Image.open(tree / "testA" / f"{name}.png")))
        write(tree / "trainB", f"{name}.png", np.asarray(Image.open(tree / "testB" / f"{name}.png")))
    for p in [*tree.glob("trainA/a*"), *tree.glob("trainB/b*")]:
        p.unlink()
    ds = UnpairedDataset(tree, "train", image_size=SIZE, aligned=True)
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            assert torch.allclose(item["A"], -item["B"], atol=2 / 127.5)


def test_aligned_mismatch_lists_names(tmp_path):
    root = make_tree(tmp_path, test_names=("same", "onlya"))
    (root / "testB" / "onlya.png").rename(root / "testB" / "onlyb.png")
    with pytest.raises(DataError) as err:
        UnpairedDataset(root, "test", aligned=True)
    assert "onlya" in str(err.value) and "onlyb" in str(err.value)


def test_suffixed_names_pair_up(tmp_path):
    """The CycleGAN versions of facades and maps name pairs 1_A.jpg <-> 1_B.jpg."""
    root = make_tree(tmp_path, test_names=())
    for k, name in enumerate(("1", "2", "10")):
        write(root / "testA", f"{name}_A.png", noise(200 + k))
        write(root / "testB", f"{name}_B.png", 255 - noise(200 + k))
    ds = UnpairedDataset(root, "test", image_size=SIZE, aligned=True)
    assert ds.aligned and len(ds) == 3
    for i in range(len(ds)):
        item = ds[i]
        assert Path(item["A_path"]).stem[:-2] == Path(item["B_path"]).stem[:-2]
        assert torch.allclose(item["A"], -item["B"], atol=2 / 127.5)


def test_auto_pairs_matching_names(tree):
    ds = UnpairedDataset(tree, "test", image_size=SIZE, aligned="auto")
    assert ds.aligned and ds.pairing_problem == "" and len(ds) == 2
    assert all(Path(ds[i]["A_path"]).name == Path(ds[i]["B_path"]).name for i in range(len(ds)))


def test_auto_falls_back_to_unpaired_and_visits_every_held_out_image(tmp_path):
    """horse2zebra: testA/ and testB/ have unrelated names and counts. "auto" must not fail (the
    run could not even start) and the held-out split must show every image of both folders."""
    root = make_tree(tmp_path, test_names=())
    for k in range(2):
        write(root / "testA", f"horse{k}.png", noise(200 + k))
    for k in range(5):
        write(root / "testB", f"zebra{k}.png", noise(300 + k))
    with pytest.raises(DataError, match="horse0"):
        UnpairedDataset(root, "test", aligned=True)
    ds = UnpairedDataset(root, "test", image_size=SIZE, aligned="auto")
    assert not ds.aligned and "horse0" in ds.pairing_problem and len(ds) == 5
    items = [ds[i] for i in range(len(ds))]
    assert {Path(it["A_path"]).name for it in items} == {"horse0.png", "horse1.png"}
    assert [Path(it["B_path"]).name for it in items] == [f"zebra{k}.png" for k in range(5)]


def test_aligned_must_be_a_known_choice(tree):
    with pytest.raises(ConfigError, match="auto"):
        UnpairedDataset(tree, "test", aligned="yes")


# -- the built-in dataset ------------------------------------------------------------------------
@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSLATE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def stems(folder: Path) -> set[str]:
    return {p.stem for p in folder.iterdir()}


def test_builtin_materializes(cache):
    root = builtin.noto2twemoji()
    assert root.parent == cache / "datasets" and root.name.startswith("noto2twemoji-")
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["kind"] == "unpaired" and meta["domains"] == ["noto", "twemoji"]
    for folder, count in meta["counts"].items():
        assert len(list((root / folder).iterdir())) == count
    assert stems(root / "testA") == stems(root / "testB")
    assert not stems(root / "trainA") & stems(root / "trainB")
    assert not (stems(root / "trainA") | stems(root / "trainB")) & stems(root / "testA")
    assert (root / "LICENSE.md").is_file()

    mtime = root.stat().st_mtime_ns
    assert builtin.materialize("noto2twemoji") == root and root.stat().st_mtime_ns == mtime  # done once
    assert [p.name for p in root.parent.iterdir()] == [root.name]  # no temp folders left

    ds = UnpairedDataset(root, "test", image_size=64, aligned=True)
    assert len(ds) == meta["counts"]["testA"] and ds.info().domains == ("noto", "twemoji")
    assert ds[0]["A"].shape == (3, 64, 64)


def test_concurrent_materialize_gives_one_folder(cache):
    results = []
    threads = [threading.Thread(target=lambda: results.append(builtin.materialize("noto2twemoji"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and len(set(results)) == 1
    assert [p.name for p in (cache / "datasets").iterdir()] == [results[0].name]


def test_unknown_builtin_suggests(cache):
    with pytest.raises(DataError, match="noto2twemoji"):
        builtin.materialize("noto2twemoj")
