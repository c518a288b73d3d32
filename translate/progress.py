"""Training progress: a one-line bar with losses and it/s on a terminal, plain log lines
otherwise (CI, files, pipes)."""
from __future__ import annotations

import sys
import time


def format_metrics(metrics: dict, limit: int = 8) -> str:
    items = [(k, v) for k, v in metrics.items() if isinstance(v, float)][:limit]
    return " ".join(f"{k}={v:.3g}" for k, v in items)


class Progress:
    def __init__(self, total: int, start: int = 0, stream=None, enabled: bool = True):
        self.total, self.start = total, start
        self.stream = stream or sys.stderr
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self._last_draw = 0.0

    def rate(self, step: int) -> float:
        done = step - self.start
        return done / max(1e-9, time.perf_counter() - self.t0)

    def update(self, step: int, metrics: dict) -> None:
        """Redraw the bar (terminal only, at most 10 times a second)."""
        if not (self.enabled and self.tty):
            return
        now = time.perf_counter()
        if now - self._last_draw < 0.1 and step < self.total:
            return
        self._last_draw = now
        frac = step / max(1, self.total)
        bar = "#" * int(frac * 24)
        rate = self.rate(step)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        line = f"\r[{bar:<24}] {step}/{self.total} {rate:.2f} it/s eta {eta:4.0f}s {format_metrics(metrics)}"
        self.stream.write(line[:200].ljust(120))
        self.stream.flush()

    def log(self, step: int, metrics: dict) -> None:
        """A plain line per logging interval when not on a terminal."""
        if self.enabled and not self.tty:
            print(f"step {step}/{self.total} {self.rate(step):.2f} it/s {format_metrics(metrics)}",
                  file=self.stream, flush=True)

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + " " * 120 + "\r")
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
