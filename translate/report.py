"""index.html of a run: the sample grids and the loss curves (inline SVG, no scripts)."""
from __future__ import annotations

import html
import math
from pathlib import Path

from translate.run import MetricsLog, write_text_atomic

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
SKIP = {"step", "time", "it_s", "data_s", "epoch", "loss_scale"}  # not losses


def _curve_svg(records: list[dict], keys: list[str], width=640, height=220) -> str:
    pts = {k: [(r["step"], r[k]) for r in records if isinstance(r.get(k), (int, float)) and math.isfinite(r[k])] for k in keys}
    pts = {k: v for k, v in pts.items() if v}
    if not pts:
        return ""
    xs = [x for v in pts.values() for x, _ in v]
    ys = [y for v in pts.values() for _, y in v]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-12:
        y1 = y0 + 1
    pad = 36

    def sx(x):
        return pad + (x - x0) / (x1 - x0) * (width - 2 * pad)

    def sy(y):
        return height - pad + (y - y0) / (y1 - y0) * -(height - 2 * pad)

    parts = [f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" style="background:#fff;border:1px solid #ddd">',
             f'<text x="4" y="{pad - 8}" font-size="11">{y1:.3g}</text><text x="4" y="{height - pad}" font-size="11">{y0:.3g}</text>',
             f'<text x="{pad}" y="{height - 8}" font-size="11">step {x0}</text><text x="{width - pad - 60}" y="{height - 8}" font-size="11">step {x1}</text>']
    for i, (k, v) in enumerate(sorted(pts.items())):
        color = COLORS[i % len(COLORS)]
        line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in v)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{line}"/>')
        parts.append(f'<text x="{width - pad + 2 - 120}" y="{pad + 12 * i}" font-size="11" fill="{color}">{html.escape(k)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_index(run_dir: Path, title: str, extra: dict | None = None) -> Path:
    records = MetricsLog(run_dir / "metrics.jsonl").read()
    keys = sorted({k for r in records for k in r if k not in SKIP and not k.startswith("lr")})
    samples = sorted((run_dir / "samples").glob("step_*.png"), reverse=True)
    body = [f"<h1>{html.escape(title)}</h1>"]
    if extra:
        body.append("<table>" + "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in extra.items()) + "</table>")
    body.append("<h2>Losses</h2>")
    body.append(_curve_svg(records, keys) or "<p>No metrics yet.</p>")
    body.append("<h2>Samples</h2><p>Columns as in the file name's model visuals; newest first.</p>")
    for png in samples[:30]:
        rel = png.relative_to(run_dir).as_posix()
        body.append(f'<figure><img src="{html.escape(rel)}" style="image-rendering:pixelated;max-width:100%"><figcaption>{html.escape(png.stem)}</figcaption></figure>')
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>" + html.escape(title) +
            "</title><style>body{font-family:sans-serif;margin:2em}td{padding:2px 8px}</style></head><body>"
            + "\n".join(body) + "</body></html>")
    path = run_dir / "index.html"
    write_text_atomic(path, page)
    return path
