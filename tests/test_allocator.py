"""Training on the CPU keeps freed memory for reuse: a big tensor allocated every step is not
page-faulted in again each time."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import translate
import translate.allocator
from translate.restore import model_class

PAGE_FAULTS = textwrap.dedent("""
    import resource, sys, torch
    from translate.allocator import keep_freed_memory
    if sys.argv[1] == "keep" and not keep_freed_memory():
        sys.exit(print(-1))              # not glibc: nothing to measure
    faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(12):                  # warm-up "steps": a 48 MB tensor allocated and freed
        torch.empty(12 * 2**20).fill_(1)
    before = faults()
    for _ in range(3):                   # three more
        torch.empty(12 * 2**20).fill_(1)
    print(faults() - before)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings")
def test_kept_memory_is_reused_without_page_faults():
    def faults(mode):
        out = subprocess.run([sys.executable, "-c", PAGE_FAULTS, mode], capture_output=True, text=True, check=True)
        return int(out.stdout)

    default, kept = faults("default"), faults("keep")
    if kept < 0:
        pytest.skip("the C library does not take glibc's mallopt settings")
    assert default > 3 * 12 * 2**20 * 4 // 4096 // 2    # each block faulted in again (12,288 pages)
    assert kept < default / 20


def test_fit_on_the_cpu_keeps_freed_memory(monkeypatch, tmp_path, shared_unpaired, tiny):
    calls = []
    monkeypatch.setattr(translate.allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    translate.fit("cyclegan", quiet=True, **tiny(model_class("cyclegan"), data=str(shared_unpaired),
                                                 out=str(tmp_path / "runs"), device="cpu"))
    assert calls == [1]
