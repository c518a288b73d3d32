"""The `--set KEY=VALUE` option of the quality benchmarks: any config field of the run."""
from __future__ import annotations

import argparse
import json


def add_set_option(parser: argparse.ArgumentParser, example: str) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"any other config field (a JSON value or a string), e.g. --set {example}")


def parse_settings(items: list[str]) -> dict:
    """["shift=0", "norm=batch"] -> {"shift": 0, "norm": "batch"}: JSON where it parses, else the
    text; translate.fit checks names and types."""
    settings = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            settings[key] = json.loads(value)
        except ValueError:
            settings[key] = value
    return settings
