"""Run a benchmark and write its JSON result and PNG plot.

    python benchmarks/run.py head [--quick] [--out DIR] [--device cuda] [--dtype bf16]
    python benchmarks/run.py step [--quick] [--parts sequence decoder token token-mc image compiled] ...
    python benchmarks/run.py step --parts image   # run some parts; the stored results keep the others
    python benchmarks/run.py step --parts compiled --add   # add parts, keeping a record of each run
    python benchmarks/run.py convergence [--quick] [--regimes full small frozen token vision] [--seeds 0 1 2] ...
    python benchmarks/run.py convergence --regimes full small --variants plain_2x   # add to the stored results
    python benchmarks/run.py calibration [--quick] [--regimes finetuned frozen] [--seeds 0 1 2] ...
    python benchmarks/run.py calibration --timing-only [--timing-rounds 15]   # re-time the stored results
    python benchmarks/run.py import [--quick]   # `import msd_transformers` against torch + transformers + Trainer

Full results go to `benchmarks/results/` (regenerate `benchmarks/README.md` with `python benchmarks/report.py`);
`--quick` runs (tiny sizes, a tiny random model) go to `benchmarks/results/quick/` unless `--out` says otherwise, so
they never overwrite the published results. Files are named `<benchmark>[-<device>-<dtype>].json` (the suffix only
off the CPU/fp32 default), with a `.png` next to each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import DEFAULT_OUT, environment, write_json  # noqa: E402
from bench_step import PARTS  # noqa: E402
from bench_step_token import SHAPES  # noqa: E402


def _suffix(args: argparse.Namespace) -> str:
    return "" if (args.device == "cpu" and args.dtype == "fp32") else f"-{args.device.replace(':', '')}-{args.dtype}"


def add_parts(stored: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The stored step result with the parts of `new` added (or replaced); `new`'s record (parts, environment, wall
    time) is appended to `added`, the stored record kept."""
    record = {"parts": new["parts"], "environment": new["environment"], "wall_s": new["wall_s"]}
    parts = {k: v for k, v in new.items() if k not in ("benchmark", "description", "parts", "environment", "wall_s")}
    return {
        **stored,
        **parts,
        "parts": [*stored["parts"], *(p for p in new["parts"] if p not in stored["parts"])],
        "added": [*stored.get("added", []), record],
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run one benchmark, write its JSON and PNG files."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", choices=["head", "step", "convergence", "calibration", "import"])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats/steps (smoke test, < 2 min)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default benchmarks/results[/quick])")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="bf16: autocast / bf16 head")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="convergence / calibration seeds")
    parser.add_argument(
        "--regimes",
        nargs="+",
        default=None,
        help="regimes to run (convergence: full small frozen token vision; calibration: finetuned frozen; "
        "default: all)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: on a shared 2-core VM, 2 OpenMP threads gave 10x step-time swings)",
    )
    parser.add_argument("--parts", nargs="+", default=None, choices=PARTS, help="step: the rows to run (default: all)")
    parser.add_argument(
        "--shapes", nargs="+", default=None, choices=list(SHAPES), help="step: the token shapes (default: all)"
    )
    parser.add_argument("--repeats", type=int, default=None, help="step: timed rounds (default 11; 3 with --quick)")
    parser.add_argument(
        "--compile-backend",
        default=None,
        help="step, compiled rows: the torch.compile backend (default inductor; eager with --quick)",
    )
    parser.add_argument(
        "--add",
        action="store_true",
        help="step: add the parts run to the stored step results in --out (their other parts and record kept; this "
        "run's record goes in `added`)",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        default=None,
        help="convergence: run only these variants (in each regime that has them) and add them to the stored results "
        "in --out (same seeds and settings)",
    )
    parser.add_argument("--no-plot", action="store_true", help="write the JSON only")
    parser.add_argument(
        "--timing-only",
        action="store_true",
        help="calibration: time the methods of the stored results in --out again and keep their metrics",
    )
    parser.add_argument("--timing-rounds", type=int, default=None, help="calibration: timing rounds (default 5)")
    args = parser.parse_args(argv)
    if args.timing_only and args.benchmark != "calibration":
        parser.error("--timing-only is for the calibration benchmark")
    if args.variants and (args.benchmark != "convergence" or args.timing_only):
        parser.error("--variants is for the convergence benchmark")
    if args.benchmark == "import" and (args.device != "cpu" or args.dtype != "fp32"):
        parser.error("the import benchmark takes no --device or --dtype")
    if args.benchmark != "step" and (args.parts or args.shapes or args.repeats or args.compile_backend or args.add):
        parser.error("--parts, --shapes, --repeats, --compile-backend and --add are for the step benchmark")
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be a positive integer, got {args.repeats}")
    out: Path = args.out or (DEFAULT_OUT / "quick" if args.quick else DEFAULT_OUT)
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda but no CUDA device is available")

    import torch

    torch.set_num_threads(args.threads)

    import plots

    t0 = time.perf_counter()
    suffix = _suffix(args)
    written: list[Path] = []
    if args.benchmark == "import":
        import bench_import

        result = {**bench_import.run_import(args), "environment": environment("cpu", "fp32", [0])}
        result["wall_s"] = time.perf_counter() - t0
        written.append(write_json(out / "import.json", result))
    elif args.benchmark in ("head", "step"):
        import bench_head
        import bench_step

        run, plot = {
            "head": (bench_head.run_head, plots.plot_head),
            "step": (bench_step.run_step, plots.plot_step),
        }[args.benchmark]
        path = out / f"{args.benchmark}{suffix}.json"
        if args.add and not path.exists():
            parser.error(f"--add adds parts to the stored results {path}; run the benchmark first")
        result = {**run(args), "environment": environment(args.device, args.dtype, [0])}
        result["wall_s"] = time.perf_counter() - t0
        if args.add:
            result = add_parts(json.loads(path.read_text()), result)
        elif args.benchmark == "step" and args.parts and path.exists():  # the parts not run keep theirs
            result = bench_step.merge_parts(json.loads(path.read_text()), result)
        written.append(write_json(path, result))
        if not args.no_plot:
            written.append(plot(result, out / f"{args.benchmark}{suffix}.png"))
    else:
        import bench_calibration
        import bench_convergence

        module, plot = {
            "convergence": (bench_convergence, plots.plot_convergence),
            "calibration": (bench_calibration, plots.plot_calibration),
        }[args.benchmark]
        known = list(module.regimes(args.quick))
        unknown = [r for r in args.regimes or [] if r not in known]
        if unknown:
            parser.error(f"unknown {args.benchmark} regime(s) {unknown}: choose from {known}")
        selected = list(args.regimes or known)
        if args.variants:
            has = {r: [v for v in args.variants if v in module.regimes(args.quick)[r].variants] for r in selected}
            bad = [v for v in args.variants if not any(v in names for names in has.values())]
            if bad:
                parser.error(f"variant(s) {bad} are in none of the regimes {selected}")
            selected = [r for r in selected if has[r]]
            for regime in selected:
                path = out / f"{args.benchmark}-{regime}{suffix}.json"
                if not path.exists():
                    parser.error(f"--variants adds runs to the stored results {path}; run the regime first")
        for regime in selected:
            t1 = time.perf_counter()
            env = environment(args.device, args.dtype, args.seeds)
            if args.timing_only:
                path = out / f"{args.benchmark}-{regime}{suffix}.json"
                if not path.exists():
                    parser.error(f"--timing-only needs the stored results {path}; run the benchmark first")
                stored = json.loads(path.read_text())
                result = {**module.retime_regime(stored, args), "timing_environment": env}
                result["wall_s"] = stored.get("wall_s")
                written.append(write_json(path, result))
                if not args.no_plot:
                    written.append(plot(result, out / f"{args.benchmark}-{regime}{suffix}.png"))
                continue
            path = out / f"{args.benchmark}-{regime}{suffix}.json"
            if args.variants:  # the new runs join the stored ones, which keep their record; theirs goes in `added`
                stored = json.loads(path.read_text())
                try:
                    result = module.run_regime(regime, args, stored)
                except ValueError as err:
                    parser.error(f"{path}: {err}")
                added = {"variants": has[regime], "environment": env, "wall_s": time.perf_counter() - t1}
                result.update(
                    environment=stored["environment"],
                    wall_s=stored["wall_s"],
                    added=[*stored.get("added", []), added],
                )
            else:
                result = {**module.run_regime(regime, args), "environment": env}
                result["wall_s"] = time.perf_counter() - t1
            written.append(write_json(path, result))
            if not args.no_plot:
                written.append(plot(result, out / f"{args.benchmark}-{regime}{suffix}.png"))
    for p in written:
        print(f"wrote {p}")
    print(f"done in {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
