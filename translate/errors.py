"""User-facing errors. The CLI prints their message and exits non-zero, without a traceback."""
from __future__ import annotations

import difflib


class TranslateError(Exception):
    """An error the user can fix; its message says what was wrong and what was expected."""

    exit_code = 2


class ConfigError(TranslateError):
    pass


class DataError(TranslateError):
    pass


class CheckpointError(TranslateError):
    pass


class PluginError(TranslateError):
    pass


class ExportError(TranslateError):
    pass


class TrainingError(TranslateError):
    """Training stopped because of a failure mode (non-finite loss, ...)."""

    exit_code = 3


class MissingExtraError(TranslateError):
    def __init__(self, command: str, extra: str = "train", missing: str = "torch"):
        super().__init__(
            f"`translate {command}` needs the '{extra}' extra ({missing} is not installed): "
            f"pip install 'translate-i2i[{extra}]'"
        )


def did_you_mean(name: str, choices) -> str:
    """' Did you mean: x, y?' for close matches, or '' when nothing is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=3, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""
