"""`translate new-plugin NAME`: from the skeleton to a model that trains, exports and passes the
contract suite, without touching the toolkit's code. The skeleton is installed for real
(`pip install --target`, so importlib.metadata finds its entry point) into a temp folder put on
PYTHONPATH, never into this environment, and its own tests run in a fresh interpreter."""
from __future__ import annotations

import json
import subprocess
import sys

from translate.scaffold import skeleton_files


def test_new_plugin_trains_exports_and_passes_the_contract_suite(tmp_path, run_cli, subprocess_env):
    code, out, err = run_cli("new-plugin", "demo_gan", "--output", tmp_path)
    assert code == 0, err
    root = tmp_path / "demo_gan"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == sorted(
        skeleton_files("demo_gan"))
    assert 'demo_gan = "demo_gan.plugin"' in (root / "pyproject.toml").read_text()

    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--no-index", "--target", str(site), str(root)],
                         capture_output=True, text=True, timeout=300, env=subprocess_env())
    assert pip.returncode == 0, pip.stderr
    env = subprocess_env(PYTHONPATH=site)

    listed = subprocess.run([sys.executable, "-m", "translate.cli", "plugins", "--json"], capture_output=True,
                            text=True, timeout=120, env=env)
    assert listed.returncode == 0, listed.stderr
    row = {r["name"]: r for r in json.loads(listed.stdout)}["demo_gan"]
    assert row["origin"] == "translate-demo-gan 0.1.0" and row["models"] == ["demo_gan"] and not row["error"]

    # The skeleton's own test: the whole contract suite (train, checkpoint, resume, ONNX export
    # parity, CLI fit/export/predict/evaluate in fresh interpreters) on the built-in data.
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root,
                           capture_output=True, text=True, timeout=600, env=env)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "1 passed" in tests.stdout


def test_new_plugin_refuses_an_existing_folder_and_leaves_it_alone(tmp_path, run_cli, digests):
    assert run_cli("new-plugin", "twice", "--output", tmp_path)[0] == 0
    (tmp_path / "twice" / "twice" / "model.py").write_text("# my work\n")
    before = digests(tmp_path / "twice")
    code, _, err = run_cli("new-plugin", "twice", "--output", tmp_path)
    assert code == 2 and f"{tmp_path / 'twice'} already exists" in err
    assert digests(tmp_path / "twice") == before


def test_new_plugin_rejects_bad_and_taken_names(tmp_path, run_cli):
    code, _, err = run_cli("new-plugin", "My-GAN", "--output", tmp_path)
    assert code == 2 and "new-plugin 'My-GAN': the name must be a Python identifier in lower case" in err
    code, _, err = run_cli("new-plugin", "cyclegan", "--output", tmp_path)
    assert code == 2 and "a model named 'cyclegan' is already registered" in err
    for taken in ("translate", "json"):   # its package would shadow an importable one
        code, _, err = run_cli("new-plugin", taken, "--output", tmp_path)
        assert code == 2 and f"'{taken}' is already an importable module or package" in err
    assert list(tmp_path.iterdir()) == []   # nothing written
