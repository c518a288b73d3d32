"""The base install is the runtime, without torch: `import translate`, `translate --help` and
`translate plugins` import no torch, and a command that needs the train extra says which extra
to install. Each check runs in a fresh interpreter (this one has imported torch long ago)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = ("torch", "torchvision", "kornia", "albumentations", "onnx", "onnxscript", "cv2")

# Simulates an environment without torch: a meta-path finder in front of the real ones that
# finds nothing for torch (and torchvision), so `import torch` fails with ModuleNotFoundError
# and importlib.util.find_spec("torch") returns None, exactly as when it is not installed.
HIDE_TORCH = textwrap.dedent("""
    import sys

    class HideTorch:
        hidden = ("torch", "torchvision")

        def __init__(self, inner):
            self.inner = inner

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.hidden:
                return None
            find = getattr(self.inner, "find_spec", None)
            return find(name, path, target) if find else None

        def __getattr__(self, attr):
            return getattr(self.inner, attr)

    sys.meta_path[:] = [HideTorch(f) for f in sys.meta_path]
    assert "torch" not in sys.modules
""")


def python(code: str, subprocess_env) -> subprocess.CompletedProcess:
    # (the working directory is the test's tmp_path: see the autouse clean_env fixture)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, env=subprocess_env())


def test_import_help_and_plugins_load_no_torch(subprocess_env):
    proc = python(f"""
        import sys
        import translate, translate.cli, translate.registry, translate.errors
        assert not [m for m in {HEAVY!r} if m in sys.modules], "import translate loaded heavy modules"
        from translate.cli import main
        assert main(["--help"]) == 0
        assert main(["fit", "--help"]) == 0          # the generic fit help needs no model
        assert main(["plugins"]) == 0
        assert main(["plugins", "--json"]) == 0
        loaded = [m for m in {HEAVY!r} if m in sys.modules]
        assert not loaded, f"loaded: {{loaded}}"
        print("TORCH-FREE OK")
    """, subprocess_env)
    assert proc.returncode == 0, proc.stderr
    assert "TORCH-FREE OK" in proc.stdout
    assert "usage: translate COMMAND" in proc.stdout and "cyclegan" in proc.stdout


def test_commands_that_need_torch_name_the_extra(subprocess_env):
    proc = python(HIDE_TORCH + textwrap.dedent("""
        from translate.cli import main

        # Torch-free commands still work.
        assert main(["--help"]) == 0 and main(["plugins"]) == 0
        # (Tiny settings: if torch were not hidden, this would train, briefly, and the test fail.)
        fit = ["fit", "--plugin", "cyclegan", "--steps", "1", "--max-items", "1", "--no-export", "--out", "runs"]
        print("\\nCODES", [main(fit), main(["export", "some-run"]),
                          main(["evaluate", "some-run"])])
        import importlib
        try:
            importlib.import_module("torch")
        except ModuleNotFoundError:
            print("TORCH HIDDEN")
    """), subprocess_env)
    assert proc.returncode == 0, proc.stderr
    assert "TORCH HIDDEN" in proc.stdout
    codes = eval(proc.stdout.split("CODES", 1)[1].strip().splitlines()[0])
    assert codes == [2, 2, 2]
    for command in ("fit", "export", "evaluate"):
        assert (f"`translate {command}` needs the 'train' extra (torch is not installed): "
                f"pip install 'translate-i2i[train]'") in proc.stderr
    assert "Traceback" not in proc.stderr


def test_console_script_without_torch_exits_non_zero(subprocess_env, tmp_path):
    """The same through `python -m translate.cli`, via a sitecustomize that hides torch."""
    (tmp_path / "sitecustomize.py").write_text(HIDE_TORCH)
    env = subprocess_env(PYTHONPATH=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "translate.cli", "fit", "--plugin", "cyclegan", "--steps", "1",
                           "--max-items", "1", "--no-export", "--out", "runs"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode != 0
    assert "pip install 'translate-i2i[train]'" in proc.stderr and "Traceback" not in proc.stderr
