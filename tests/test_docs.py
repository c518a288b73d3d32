"""Meta-tests that keep the plugin author guide (docs/plugins.md) honest: every hook spec is
documented with its current argument list (and nothing else is documented as a hook), every
contract check and every testing helper is described."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

from translate import hookspecs, testing

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def hook_headings(text: str) -> dict[str, str]:
    """name -> documented argument list, from the guide's "### `name(args)`" headings."""
    hooks = text.split("\n## Hooks\n", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2) for m in re.finditer(r"^### `(\w+)\(([^)]*)\)`\s*$", hooks, re.M)}


def hookspec_signatures() -> dict[str, str]:
    return {name: ", ".join(inspect.signature(fn).parameters)
            for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "translate_spec")}


def plain_arguments(fn) -> str:
    """'name, *, data=None, ...': the argument list without annotations, as the guide writes it."""
    parts, star = [], False
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        parts.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return ", ".join(parts)


def test_every_hookspec_is_in_the_guide_with_its_current_arguments():
    documented, specs = hook_headings(GUIDE.read_text()), hookspec_signatures()
    assert specs, "no hook specs found"
    for name, args in specs.items():
        assert name in documented, f"hook {name}({args}) is not documented in {GUIDE.name}"
        assert documented[name] == args, f"{GUIDE.name} documents {name}({documented[name]}), the spec is {name}({args})"
    assert set(documented) == set(specs), f"documented hooks that do not exist: {set(documented) - set(specs)}"


def test_the_hook_parser_sees_a_stale_signature():
    stale = "## Hooks\n\n### `fit_start(run, extra)`\n\n## Next\n"
    assert hook_headings("intro\n" + stale) == {"fit_start": "run, extra"}


def test_every_contract_check_and_testing_helper_is_described():
    text = GUIDE.read_text()
    table = text.split("\n## Testing your plugin\n", 1)[1]
    for check in testing.CHECKS:
        assert f"| `{check}` |" in table, f"contract check {check!r} is not in the guide's table"
    assert f"check_model_plugin({plain_arguments(testing.check_model_plugin)})" in table
    for helper in ("plugin_registered", "tiny_overrides", "translate_contract", "translate_plugin_registered",
                   "translate_tiny", "translate_inactive"):
        assert helper in text, helper


def test_the_guide_covers_discovery_contract_kinds_metadata_testing_publishing():
    sections = re.findall(r"^## (.+)$", GUIDE.read_text(), re.M)
    assert sections == ["How discovery works", "Hooks", "The model contract", "Dataset kinds", "Export metadata",
                        "Testing your plugin", "Publishing"]
