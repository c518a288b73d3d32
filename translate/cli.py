"""The `translate` command: fit, export, predict, evaluate, plugins.

A thin layer over library functions. It imports torch only inside the commands that need it,
so `translate --help`, `translate plugins` and `translate predict` stay fast and torch-free.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from translate import __version__
from translate.errors import MissingExtraError, TranslateError, did_you_mean

TRAIN_EXTRA = ("torch", "torchvision", "kornia", "albumentations", "yaml")


def require_train_extra(command: str) -> None:
    for module in TRAIN_EXTRA:
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(command, "train", module)


class Parser(argparse.ArgumentParser):
    """argparse with close-match suggestions for unknown flags."""

    def parse_strict(self, argv):
        args, extra = self.parse_known_args(argv)
        if extra:
            known = [s for a in self._actions for s in a.option_strings]
            flag = extra[0].split("=")[0]
            hint = did_you_mean(flag, known) if flag.startswith("-") else ""
            self.error(f"unrecognized argument {extra[0]!r}.{hint}")
        return args


# -- fit ----------------------------------------------------------------------------------------------

def _fit_parser(model_cls=None) -> Parser:
    p = Parser(prog="translate fit", description="Train a model. Config precedence: plugin defaults "
               "< --config file.yaml < flags. Runs on the GPU when there is one.")
    p.add_argument("--plugin", help="the model to train (see `translate plugins`)")
    p.add_argument("--config", dest="config_file", metavar="FILE.yaml", help="YAML with train:/data:/model: sections")
    p.add_argument("--resume", metavar="RUN_OR_CHECKPOINT", help="continue a run from its latest (or this) checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    if model_cls is not None:
        from translate.config import DataConfig, TrainConfig, add_flags

        # The help gives the values a run of this model gets: its train/data defaults, not the generic ones.
        add_flags(p, TrainConfig, "training", shown=TrainConfig(**(getattr(model_cls, "train_defaults", None) or {})))
        add_flags(p, DataConfig, "data", shown=DataConfig(**(getattr(model_cls, "data_defaults", None) or {})))
        add_flags(p, model_cls.Config, f"model: {model_cls.name} ({model_cls.summary})")
    return p


def cmd_fit(argv: list[str]) -> int:
    pre = Parser(add_help=False)
    pre.add_argument("--plugin")
    pre.add_argument("--resume")
    known, _ = pre.parse_known_args(argv)
    wants_help = "-h" in argv or "--help" in argv
    if not known.plugin and not known.resume:
        if wants_help:
            _fit_parser().print_help()
            print("\nAdd --plugin NAME --help to see the model's flags.")
            return 0
        raise TranslateError("translate fit: --plugin is required (see `translate plugins`), or --resume RUN")
    require_train_extra("fit")
    from translate.restore import model_class

    if known.resume and not known.plugin:
        from translate.checkpoint import load_checkpoint, resolve_checkpoint

        name = load_checkpoint(resolve_checkpoint(known.resume))["plugin"]
    else:
        name = known.plugin
    model_cls = model_class(name)
    args = _fit_parser(model_cls).parse_strict(argv)
    values = vars(args)
    plugin, config_file, resume, quiet = (values.pop(k) for k in ("plugin", "config_file", "resume", "quiet"))
    from translate.fit_loop import fit

    fit(plugin, config_file=config_file, resume=resume, overrides=values, quiet=quiet)
    return 0


# -- export / evaluate --------------------------------------------------------------------------------------

def cmd_export(argv: list[str]) -> int:
    p = Parser(prog="translate export", description="Write verified ONNX files of a run's inference modules.")
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--output", "-o", help="output folder (default: RUN/exports; RUN/exports/step_NNNNNN for a "
                                           "checkpoint earlier than the run's latest)")
    p.add_argument("--opset", type=int, default=18,
                   help="ONNX opset (default 18; 13-17 for an older onnxruntime go through torch's TorchScript "
                        "exporter; the file is verified either way)")
    p.add_argument("--no-winograd", action="store_true",
                   help="keep the 3x3 convolutions as plain Conv nodes (default: Winograd F(4x4, 3x3), "
                        "faster in onnxruntime on the CPU, within ~1e-5 of Conv)")
    args = p.parse_strict(argv)
    require_train_extra("export")
    from translate.checkpoint import run_dir_of
    from translate.fit_loop import export_metadata
    from translate.restore import build_model, load_run

    path, ckpt, cls, config = load_run(args.run)
    model = build_model(cls, config, ckpt, where=path)
    if args.output:
        out = Path(args.output)
    else:  # an earlier checkpoint's files go beside the run's final ones, not over them
        out = run_dir_of(path) / "exports" / (path.stem if is_earlier_checkpoint(path) else "")
    from translate.export.onnx_export import export_model

    meta = {**export_metadata(model, config), "step": ckpt["step"]}
    files = export_model(model, out, base_metadata=meta, opset=args.opset, winograd=not args.no_winograd, log=print)
    for f in files:
        print(f)
    return 0


def _evaluate_parser(model_cls=None, model_config=None, find_run=False) -> Parser:
    """The flags of `translate evaluate`; with a model class, also its evaluation settings.
    find_run: a first pass that only finds the run (no --help, the run optional)."""
    p = Parser(prog="translate evaluate", description="Held-out quality numbers of a run (its test split).",
               epilog=None if model_cls else "`translate evaluate RUN --help` also lists the model's evaluation "
                                             "settings (e.g. --kid-samples), which override the run's.",
               add_help=not find_run)
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT", nargs="?" if find_run else None)
    p.add_argument("--data", help="dataset folder or built-in name (default: the run's)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    if model_cls is not None:
        from translate.config import add_flags, evaluation_fields

        fields = evaluation_fields(model_cls.Config)
        if fields:
            add_flags(p, model_cls.Config, f"evaluation settings of {model_cls.name} (default: the run's)",
                      only=fields, shown=model_config)
    return p


def _find_evaluated_run(argv: list[str]) -> str | None:
    """The run or checkpoint argument, found before the model (and so its flags) is known. A model
    flag before it (`--ema 0 RUN`) looks like a switch to this first pass, which takes its value
    for the run: then the run is the first of the left-over words that names an existing path."""
    known, rest = _evaluate_parser(find_run=True).parse_known_args(argv)
    if known.run and not Path(known.run).exists():
        found = next((w for w in rest if not w.startswith("-") and Path(w).exists()), None)
        return found or known.run
    return known.run


def cmd_evaluate(argv: list[str]) -> int:
    run = _find_evaluated_run(argv)
    if not run:  # no run: --help, or the usage error, without the model's flags
        _evaluate_parser().parse_strict(argv)
    require_train_extra("evaluate")
    import dataclasses

    from translate.data import held_out_split, held_out_splits, resolve_root
    from translate.engine import Distributed, select_device
    from translate.errors import DataError
    from translate.fit_loop import evaluate_model
    from translate.registry import get_plugins
    from translate.restore import build_model, load_run
    from translate.run import write_text_atomic

    path, ckpt, cls, config = load_run(run)
    args = _evaluate_parser(cls, config.model).parse_strict(argv)
    settings = {k: v for k, v in vars(args).items() if k not in ("run", "data", "device", "json")}
    config.model = dataclasses.replace(config.model, **settings)   # e.g. --kid-samples 200 after training
    plugins = get_plugins()
    kind_cls = plugins.dataset_kinds.get(cls.dataset_kind).load()
    root, _ = resolve_root(args.data or config.data.data, cls.dataset_kind, plugins)
    split = held_out_split(kind_cls, root)
    if not split:
        splits = " or ".join(held_out_splits(kind_cls))
        raise DataError(f"{root}: no held-out split to evaluate on (expected {cls.dataset_kind} {splits} "
                        f"folders, e.g. testA/ and testB/ for unpaired data)")
    device = select_device(args.device, Distributed())
    model = build_model(cls, config, ckpt, device, where=path)
    metrics = {"step": ckpt["step"], "split": split, **evaluate_model(model, kind_cls, root, config, device, split)}
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"{path} (step {ckpt['step']}), held-out data {root}:")
        width = max(len(k) for k in metrics)
        for k, v in metrics.items():
            print(f"  {k:<{width}}  {v:.4f}" if isinstance(v, float) else f"  {k:<{width}}  {v}")
    if args.data is None:
        target = evaluation_file(path)
        target.parent.mkdir(exist_ok=True)
        write_text_atomic(target, json.dumps(metrics, indent=2))
        if not args.json:
            print(f"written to {target}")
    return 0


def evaluation_file(checkpoint: Path) -> Path:
    """Where `evaluate` keeps a checkpoint's metrics: the run's eval.json holds its latest
    checkpoint's (as `fit` writes it); an earlier checkpoint's go to evaluations/<name>.json, so
    evaluating one never overwrites the run's final numbers."""
    from translate.checkpoint import run_dir_of

    if is_earlier_checkpoint(checkpoint):
        return run_dir_of(checkpoint) / "evaluations" / f"{Path(checkpoint).stem}.json"
    return run_dir_of(checkpoint) / "eval.json"


def is_earlier_checkpoint(checkpoint: Path) -> bool:
    """A step checkpoint of a run that has a later one (whose results are the run's own)."""
    from translate.checkpoint import step_checkpoints

    checkpoint = Path(checkpoint).resolve()
    return checkpoint in [p for _, p in step_checkpoints(checkpoint.parent)[:-1]]   # paths under a resolved folder


# -- predict ------------------------------------------------------------------------------------------------

def cmd_predict(argv: list[str]) -> int:
    from translate.export import predict  # torch-free

    p = Parser(prog="translate predict", description="Run an exported .onnx model with onnxruntime (no torch).")
    predict.add_arguments(p)
    return predict.run(p.parse_strict(argv)) or 0


# -- plugins -------------------------------------------------------------------------------------------------

def plugins_report() -> list[dict]:
    from translate.registry import get_plugins

    ps = get_plugins()
    rows = []
    for info in ps.info.values():
        rows.append({
            "name": info.name, "origin": info.origin, "hooks": info.hooks,
            "models": info.registered.get("model", []),
            "dataset_kinds": info.registered.get("dataset kind", []),
            "builtin_datasets": info.registered.get("built-in dataset", []),
            "error": info.error,
            "inactive": info.inactive,
        })
    return rows


def cmd_plugins(argv: list[str]) -> int:
    p = Parser(prog="translate plugins", description="Every plugin with its origin, what it registers and its hooks.")
    p.add_argument("--json", action="store_true")
    p.add_argument("--strict", action="store_true", help="exit 1 when a plugin failed to load")
    args = p.parse_strict(argv)
    rows = plugins_report()
    failed = 1 if args.strict and any(r["error"] for r in rows) else 0
    if args.json:
        print(json.dumps(rows, indent=2))
        return failed
    from translate.registry import get_plugins

    ps = get_plugins()
    for r in rows:
        print(f"{r['name']}  [{r['origin']}]")
        if r["error"]:
            print(f"  FAILED: {r['error']}")
            continue
        if r["inactive"]:
            print(f"  inactive: {r['inactive']}")
            continue
        for m in r["models"]:
            print(f"  model         {m:<14} {ps.models.get(m).summary}")
        for k in r["dataset_kinds"]:
            print(f"  dataset kind  {k:<14} {ps.dataset_kinds.get(k).summary}")
        for d in r["builtin_datasets"]:
            print(f"  dataset       {d:<14} {ps.builtin_datasets.get(d).summary}")
        print(f"  hooks         {', '.join(r['hooks']) or '-'}")
    return failed


# -- new-plugin ------------------------------------------------------------------------------------------------

def cmd_new_plugin(argv: list[str]) -> int:
    p = Parser(prog="translate new-plugin", description="Write a working skeleton of a model plugin package "
               "(pyproject with the entry point, a small unpaired model, a contract test, README).")
    p.add_argument("name", help="model and package name: lower case letters, digits, underscores (e.g. mygan)")
    p.add_argument("--output", "-o", default=".", metavar="DIR", help="folder to create NAME/ in (default: .)")
    args = p.parse_strict(argv)
    from translate.registry import get_plugins
    from translate.scaffold import new_plugin

    root = new_plugin(args.name, args.output, registered_models=get_plugins().models.names())
    print(f"wrote {root}/ (pyproject.toml, {args.name}/plugin.py, {args.name}/model.py, tests/, README.md)\n"
          f"next: cd {root} && pip install -e '.[test]' && python -m pytest -q && translate fit --plugin {args.name}")
    return 0


COMMANDS = {
    "fit": (cmd_fit, "train a model (on a GPU when there is one)"),
    "export": (cmd_export, "write verified ONNX generators of a run"),
    "predict": (cmd_predict, "run an exported .onnx on images (onnxruntime, no torch)"),
    "evaluate": (cmd_evaluate, "held-out quality numbers of a run"),
    "plugins": (cmd_plugins, "list plugins, their origin, models and hooks"),
    "new-plugin": (cmd_new_plugin, "write a skeleton package for a new model plugin"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"translate {__version__}: image-to-image translation toolkit\n\nusage: translate COMMAND [...]\n")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<10} {text}")
        print("\n`translate COMMAND --help` for a command's flags.")
        return 0
    if argv[0] == "--version":
        print(__version__)
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"translate: unknown command {command!r}.{did_you_mean(command, COMMANDS)} "
              f"Commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[command][0](rest)
    except TranslateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
