"""Smoke tests of the benchmark scripts: each subcommand runs with --quick into a temporary folder (through the
scripts' `main`, in the test process) and writes JSON with the expected structure, ratios that follow from the
recorded times and memory that follows from the shapes. No assertions on the times themselves (they depend on the
machine)."""

from __future__ import annotations

import importlib
import json
import statistics
import sys
from pathlib import Path

import pytest

# One worker runs the whole module under pytest-xdist, so the report test reuses the others' quick results.
pytestmark = pytest.mark.xdist_group("benchmarks")

ROOT = Path(__file__).resolve().parent.parent
ENV_KEYS = {
    "date",
    "command",
    "python",
    "torch",
    "transformers",
    "cpu_model",
    "cpu_cores",
    "gpu",
    "device",
    "seeds",
    "git_commit",
}


def _main(script: str, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run `benchmarks/<script>`'s `main(argv)` as its command line would, in this process (the test process has
    torch and Transformers imported already; a subprocess per benchmark would import them again)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(sys, "argv", [str(ROOT / "benchmarks" / script), *argv])  # recorded as the command
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    module = importlib.import_module(Path(script).stem)
    assert module.main(argv) == 0


def _run(*args: str, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _main("run.py", [*args, "--quick", "--out", str(out)], monkeypatch)


@pytest.fixture(scope="module")
def quick_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One temporary output folder for the module: the report test reuses the quick results of the others."""
    return tmp_path_factory.mktemp("bench_quick")


def _ensure(bench: str, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = out / {"convergence": "convergence-frozen.json", "calibration": "calibration-frozen.json"}.get(
        bench, f"{bench}.json"
    )
    if not marker.exists():
        _run(bench, out=out, monkeypatch=monkeypatch)


def _check_env(result: dict) -> None:
    assert ENV_KEYS <= set(result["environment"])
    assert "--quick" in result["environment"]["command"]


def _check_costs(methods: dict, rounds: int) -> None:
    """Each method's cost: `rounds` ratios and their median; a temperature-scaled method costs its source's pass."""
    for name, m in methods.items():
        cost = m["cost"]
        assert len(cost["ratios"]) == rounds and all(r > 0 for r in cost["ratios"])
        assert cost["ratio_median"] == pytest.approx(statistics.median(cost["ratios"]))
        assert cost["timed_as"] == name.removesuffix("_ts")
        assert cost["ratios"] == methods[cost["timed_as"]]["cost"]["ratios"]


def _check_summary(result: dict) -> None:
    """The summary of a calibration result against its per-seed metrics: mean and std over the seeds, the paired
    differences to `msd`; temperature scaling leaves every prediction, so the accuracy, unchanged."""
    seeds = [str(s) for s in result["seeds"]]
    methods = result["methods"]
    for name, m in methods.items():
        for key in ("accuracy", "ece", "nll", "brier", "aurc"):
            values = [m["per_seed"][s][key] for s in seeds]
            assert m[key]["mean"] == pytest.approx(statistics.fmean(values))
            assert m[key]["std"] == pytest.approx(statistics.stdev(values))
            differences = [v - methods["msd"]["per_seed"][s][key] for v, s in zip(values, seeds, strict=True)]
            assert m[f"{key}_minus_msd"]["mean"] == pytest.approx(statistics.fmean(differences), abs=1e-12)
        if name.endswith("_ts"):
            source = methods[name.removesuffix("_ts")]["per_seed"]
            assert [m["per_seed"][s]["accuracy"] for s in seeds] == [source[s]["accuracy"] for s in seeds]


def test_head_quick(quick_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _run("head", out=quick_dir, monkeypatch=monkeypatch)
    result = json.loads((quick_dir / "head.json").read_text())
    _check_env(result)
    assert result["benchmark"] == "head"
    assert {r["variant"] for r in result["rows"]} == {"uniform", "linspace"}
    for row in result["rows"]:
        assert {"K", "batch", "hidden", "vectorized_s", "loop_s", "ratio_loop_over_vectorized"} <= set(row)
        assert row["vectorized_s"] > 0 and row["loop_s"] > 0
        assert len(row["rates"]) == row["K"]
    assert (quick_dir / "head.png").stat().st_size > 0


def test_step_quick(quick_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _run("step", out=quick_dir, monkeypatch=monkeypatch)
    result = json.loads((quick_dir / "step.json").read_text())
    _check_env(result)
    names = [r["variant"] for r in result["rows"]]
    assert names == ["plain", "msd8", "loop8", "whole8_batched", "whole8_chunk2", "whole8_sequential"]
    for row in result["rows"]:
        assert {
            "step_s_median",
            "time_ratio_to_plain",
            "peak_total_bytes",
            "peak_total_ratio_to_plain",
            "peak_fwd_bwd_bytes",
        } <= set(row)
        assert len(row["step_s_all"]) == result["settings"]["repeats"]
        assert row["peak_total_bytes"] > 0
    # The ratios are computed from the recorded times and peaks: per repeat against plain's time of that repeat.
    plain = result["rows"][0]
    for row in result["rows"]:
        assert row["step_s_median"] == pytest.approx(statistics.median(row["step_s_all"]))
        per_repeat = [t / p for t, p in zip(row["step_s_all"], plain["step_s_all"], strict=True)]
        assert row["time_ratio_to_plain"] == pytest.approx(statistics.median(per_repeat))
        assert row["peak_total_bytes"] == row["static_bytes"] + row["peak_step_bytes"]
        assert row["peak_total_ratio_to_plain"] == pytest.approx(row["peak_total_bytes"] / plain["peak_total_bytes"])
    # Eight forward passes over the whole network in one batch hold more activations than one pass.
    whole = result["rows"][names.index("whole8_batched")]
    assert whole["peak_fwd_bwd_bytes"] > plain["peak_fwd_bwd_bytes"]
    _check_ratios(result["rows"], result["settings"]["repeats"])
    decoder = result["decoder"]
    assert [r["variant"] for r in decoder["rows"]] == ["plain", "msd8"] and decoder["settings"]["parameters"] > 0
    _check_ratios(decoder["rows"], result["settings"]["repeats"])
    assert result["parts"] == ["sequence", "decoder", "token", "token-mc", "image", "compiled"]
    assert set(result["image"]) == {"resnet", "vit"}  # the image rows: tests/test_bench_convergence_vision.py
    for res in result["token"].values():
        _check_token_rows(res)
    _check_token_mc(result["token_mc"])
    _check_compiled(result["compiled"])
    assert (quick_dir / "step.png").stat().st_size > 0


def _check_ratios(rows: list[dict], repeats: int) -> None:
    """Each row's time and CPU-time ratios, recomputed from the recorded times: the median and quartiles of the
    per-repeat ratios to the first row (plain)."""
    plain = rows[0]
    for row in rows:
        for times, key in (("step_s_all", "time"), ("cpu_s_all", "cpu")):
            assert len(row[times]) == repeats and all(t > 0 for t in row[times])
            ratios = [t / p for t, p in zip(row[times], plain[times], strict=True)]
            assert row[f"{key}_ratio_to_plain"] == pytest.approx(statistics.median(ratios))
            q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
            assert row[f"{key}_ratio_quartiles"] == pytest.approx([q1, q3])
        assert row["peak_step_ratio_to_plain"] == pytest.approx(row["peak_step_bytes"] / plain["peak_step_bytes"])


def _check_token_rows(res: dict) -> None:
    """The token rows: the three variants, the ratios from the recorded times, and the memory that the naive recipe
    keeps: K masked copies of the token states (K - 1 more than the upstream head's one), which the MSD head does
    not."""
    s = res["settings"]
    rows = {r["variant"]: r for r in res["rows"]}
    assert list(rows) == ["plain", "msd8", "naive8"]
    _check_ratios(res["rows"], s["repeats"])
    copy = s["batch_size"] * s["seq_len"] * 32 * 4  # one float32 copy of the (B, T, H) token states, H = 32
    assert rows["naive8"]["peak_fwd_bwd_bytes"] - rows["plain"]["peak_fwd_bwd_bytes"] >= (s["num_samples"] - 1) * copy
    assert rows["msd8"]["peak_fwd_bwd_bytes"] < rows["naive8"]["peak_fwd_bwd_bytes"]


def _check_compiled(compiled: dict) -> None:
    """The compiled rows: the upstream head and MSD K=8 on the sequence batch and the token shape, both compiled with
    `fullgraph=True` (`eager` with `--quick`), each first step (compilation) timed, the ratios from the recorded
    times."""
    s = compiled["settings"]
    assert s["backend"] == "eager" and s["fullgraph"] is True
    for name in ("sequence", "token"):
        rows = compiled[name]["rows"]
        assert [r["variant"] for r in rows] == ["plain", "msd8"] and all(r["first_step_s"] > 0 for r in rows)
        _check_ratios(rows, s["repeats"])


def _check_token_mc(mc: dict) -> None:
    """The Monte-Carlo cost: N sample logits per token from one forward, and the ratios from the recorded times."""
    s = mc["settings"]
    assert mc["logits_shape"] == [s["batch_size"], s["seq_len"], 13]
    assert mc["sample_logits_shape"] == [s["num_samples"], s["batch_size"], s["seq_len"], 13]
    for times, key in (("s_all", "time_ratio"), ("cpu_s_all", "cpu_ratio")):
        ratios = [m / e for m, e in zip(mc[f"mc_{times}"], mc[f"eval_{times}"], strict=True)]
        assert len(ratios) == s["repeats"] and mc[key] == pytest.approx(statistics.median(ratios))


def test_step_parts_and_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--parts` runs only the rows named; the step-only options are refused elsewhere, with a message."""
    _run("step", "--parts", "token-mc", "--repeats", "2", "--no-plot", out=tmp_path, monkeypatch=monkeypatch)
    result = json.loads((tmp_path / "step.json").read_text())
    assert result["parts"] == ["token-mc"] and "rows" not in result and "token" not in result
    _check_token_mc(result["token_mc"])
    assert result["token_mc"]["settings"]["repeats"] == 2
    with pytest.raises(SystemExit) as exit_info:  # nothing stored in that folder to add to
        _main("run.py", ["step", "--add", "--quick", "--out", str(tmp_path / "empty")], monkeypatch)
    assert exit_info.value.code == 2 and "run the benchmark first" in capsys.readouterr().err
    for argv, message in (
        (["head", "--parts", "token"], "for the step benchmark"),
        (["head", "--add"], "for the step benchmark"),
        (["step", "--repeats", "0"], "--repeats must be a positive integer"),
        (["convergence", "--regimes", "tiny"], "unknown convergence regime"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            _main("run.py", [*argv, "--quick", "--out", str(tmp_path)], monkeypatch)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_step_add(quick_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--add` puts the parts run into the stored step results: the other parts and the stored record stay, the
    run's record is appended to `added`, and the report cites that record for the part."""
    _ensure("step", quick_dir, monkeypatch)
    stored = json.loads((quick_dir / "step.json").read_text())
    (tmp_path / "step.json").write_text(json.dumps(stored))
    _run("step", "--parts", "token-mc", "--repeats", "2", "--add", "--no-plot", out=tmp_path, monkeypatch=monkeypatch)
    result = json.loads((tmp_path / "step.json").read_text())
    kept = ("token_mc", "added")
    assert {k: v for k, v in result.items() if k not in kept} == {k: v for k, v in stored.items() if k not in kept}
    assert result["token_mc"]["settings"]["repeats"] == 2 and stored["token_mc"]["settings"]["repeats"] == 3
    _check_token_mc(result["token_mc"])
    (added,) = result["added"]
    assert added["parts"] == ["token-mc"] and "--add" in added["environment"]["command"] and added["wall_s"] > 0
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from report_cost import part_environment

    assert part_environment(result, "token-mc") == added["environment"]
    assert part_environment(result, "compiled") == stored["environment"]


def test_convergence_quick(quick_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _run("convergence", out=quick_dir, monkeypatch=monkeypatch)
    for regime in ("full", "small", "frozen", "token"):
        result = json.loads((quick_dir / f"convergence-{regime}.json").read_text())
        _check_env(result)
        assert result["regime"] == regime
        assert len(result["seeds"]) >= 3
        variants = result["variants"]
        s = result["settings"]
        if regime == "token":
            assert list(variants) == ["plain", "msd8", "fp5", "whole2", "rdrop", "plain_2x"]
            assert s["task"] == "token-classification" and s["scheme"] == "IOB2" and len(s["labels"]) == 21
            assert s["n_train"] == s["max_examples"][0] and s["n_val"] == s["max_examples"][1]
        else:
            assert {"plain", "msd8", "msd8_linspace", "msd8_logits", "msd8_consistency"} <= set(variants)
            assert ("whole8" in variants) == ("plain_8x" in variants) == (regime == "small")
            assert ("rdrop" in variants) == ("plain_2x" in variants) == (regime != "frozen")
            assert len(result["eval_labels"]) == s["n_val"]
        for name, v in variants.items():
            multiplier = {"plain_2x": 2, "plain_8x": 8}.get(name, 1)
            passes = {"whole2": 2, "rdrop": 2, "whole8": 8}.get(name, 1)
            n = len(v["steps"])
            assert v["steps"][0] == 0 and v["steps"][-1] == multiplier * s["steps"]
            assert v["compute"] == multiplier * s["steps"] * passes
            assert len(v["eval_loss_mean"]) == len(v["eval_accuracy_std"]) == len(v["eval_ece_mean"]) == n
            assert {"mean", "std"} <= set(v["final_eval_loss"])
            assert len(v["steps_to_plain_best_eval_loss"]["per_seed"]) == len(result["seeds"])
            assert set(v["per_seed"]) == {str(seed) for seed in result["seeds"]}
            assert v["step_s_mean"] > 0 and {"mean", "std"} <= set(v["step_time_ratio_to_plain"])
            for run in v["per_seed"].values():
                assert run["steps"] == sorted({*range(0, len(run["steps"]) * s["eval_every"], s["eval_every"])})
                assert all(0 <= x <= 1 for key in ("eval_accuracy", "eval_ece") for x in run[key])
                if regime == "token":
                    assert "final_eval_logits" not in run and all(0 <= x <= 1 for x in run["eval_f1"])
                else:  # what calibration metrics need: final logits in eval_labels order
                    logits = run["final_eval_logits"]
                    assert len(logits) == s["n_val"] and {len(row) for row in logits} == {len(s["labels"])}
        _check_convergence_summary(result)
        assert (quick_dir / f"convergence-{regime}.png").stat().st_size > 0


def _check_convergence_summary(result: dict) -> None:
    """The summaries against the raw runs: paired final differences to plain, and each whole-network variant at
    equal compute against the upstream head trained for its passes (best and last over the reference's evaluations)."""
    seeds = [str(s) for s in result["seeds"]]
    runs = {name: v["per_seed"] for name, v in result["variants"].items()}
    for name, v in result["variants"].items():
        for key in ("eval_loss", "eval_accuracy", "eval_ece"):
            diffs = [runs[name][s][key][-1] - runs["plain"][s][key][-1] for s in seeds]
            assert v[f"final_{key}_minus_plain"]["mean"] == pytest.approx(statistics.fmean(diffs), abs=1e-12)
            assert v[f"final_{key}_minus_plain"]["std"] == pytest.approx(statistics.stdev(diffs), abs=1e-12)
        if v["steps"] == result["variants"]["plain"]["steps"]:
            pairs = [
                zip(runs[name][s]["eval_loss"][1:], runs["plain"][s]["eval_loss"][1:], strict=True) for s in seeds
            ]
            assert v["eval_loss_below_plain_at_every_evaluation"] == [all(a < b for a, b in p) for p in pairs]
    expected = {"whole8": "plain_8x", "whole2": "plain_2x", "rdrop": "plain_2x"}
    rows = result["equal_compute"]
    assert set(rows) == {name for name in expected if name in runs}
    for name, row in rows.items():
        ref = runs[expected[name]]
        assert row["reference"] == expected[name] and row["compute"] == row["reference_steps"]
        for key, best in (("eval_loss", min), ("eval_accuracy", max), ("eval_f1", max), ("eval_ece", None)):
            if key == "eval_f1" and result["regime"] != "token":
                assert key not in row
                continue
            if best is None:  # ECE at the evaluation of the smallest eval loss
                at_best = [ref[s][key][ref[s]["eval_loss"].index(min(ref[s]["eval_loss"]))] for s in seeds]
            else:
                at_best = [best(ref[s][key]) for s in seeds]
            final = [runs[name][s][key][-1] for s in seeds]
            assert row[key]["reference_best"]["per_seed"] == at_best
            assert row[key]["reference_last"]["per_seed"] == [ref[s][key][-1] for s in seeds]
            assert row[key]["minus_reference_best"]["per_seed"] == pytest.approx(
                [f - b for f, b in zip(final, at_best, strict=True)], abs=1e-12
            )
            assert row[key]["minus_reference_best"]["max"] == max(row[key]["minus_reference_best"]["per_seed"])


def test_convergence_variants(quick_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """`--variants` runs only the variants named and adds them to the stored results: the other variants' runs and
    the original record stay, the new ones replace theirs and are recorded in `added`; a stored result from other
    initial weights or data (a different step-0 eval loss) is refused, as are other settings and unknown variants."""
    _ensure("convergence", quick_dir, monkeypatch)
    path = quick_dir / "convergence-token.json"
    before = json.loads(path.read_text())
    _run("convergence", "--regimes", "full", "token", "--variants", "plain_2x", out=quick_dir, monkeypatch=monkeypatch)
    after = json.loads(path.read_text())
    assert after["environment"] == before["environment"] and after["wall_s"] == before["wall_s"]
    assert [a["variants"] for a in after["added"]] == [["plain_2x"]]
    assert "--variants plain_2x" in after["added"][0]["environment"]["command"]
    for name, v in before["variants"].items():
        if name != "plain_2x":
            assert after["variants"][name]["per_seed"] == v["per_seed"]
    for seed, run in after["variants"]["plain_2x"]["per_seed"].items():  # run again: the same curves, other times
        old = before["variants"]["plain_2x"]["per_seed"][seed]
        assert run["eval_loss"] == old["eval_loss"] and run["eval_f1"] == old["eval_f1"]
        assert run["wall_s"] != old["wall_s"]
    _check_convergence_summary(after)
    assert "added" in json.loads((quick_dir / "convergence-full.json").read_text())
    assert "added" not in json.loads((quick_dir / "convergence-small.json").read_text())  # not asked for
    # A stored plain run that did not start where the new runs start: refused, the file left as it was.
    broken = json.loads(path.read_text())
    broken["variants"]["plain"]["per_seed"]["0"]["eval_loss"][0] += 0.01
    path.write_text(json.dumps(broken))
    for argv, message in (
        (["--regimes", "token", "--variants", "plain_2x"], "step-0 eval loss"),
        (["--regimes", "token", "--variants", "plain_2x", "--seeds", "0", "1"], "the stored results have seeds"),
        (["--regimes", "frozen", "--variants", "plain_2x"], "in none of the regimes"),
        (["--regimes", "token", "--variants", "plain_4x"], "in none of the regimes"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            _run("convergence", *argv, out=quick_dir, monkeypatch=monkeypatch)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert json.loads(path.read_text()) == broken
    path.write_text(json.dumps(after))
    with pytest.raises(SystemExit) as exit_info:
        _run("convergence", "--variants", "plain_2x", out=quick_dir / "empty", monkeypatch=monkeypatch)
    assert exit_info.value.code == 2 and "run the regime first" in capsys.readouterr().err


def test_calibration_quick(quick_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _run("calibration", out=quick_dir, monkeypatch=monkeypatch)
    for regime in ("finetuned", "frozen"):
        result = json.loads((quick_dir / f"calibration-{regime}.json").read_text())
        _check_env(result)
        assert result["regime"] == regime and len(result["seeds"]) >= 3
        methods = result["methods"]
        assert {"plain", "plain_ts", "msd", "msd_ts", "msd_mc0_8", "msd_mc0_32", "msd_mcall_8"} <= set(methods)
        for m in methods.values():
            for key in ("accuracy", "ece", "nll", "brier", "aurc"):
                assert {"mean", "std"} <= set(m[key]) and 0 <= m[key]["mean"]
                assert set(m["per_seed"]) == {str(s) for s in result["seeds"]}
        _check_costs(methods, result["settings"]["timing_rounds"])
        _check_summary(result)
        assert methods["msd_ts"]["fitted_temperature"]["mean"] > 0
        assert (quick_dir / f"calibration-{regime}.png").stat().st_size > 0


def test_calibration_timing_only(quick_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--timing-only replaces every method's cost (more rounds here) and keeps the metrics."""
    _ensure("calibration", quick_dir, monkeypatch)
    before = json.loads((quick_dir / "calibration-frozen.json").read_text())
    _run("calibration", "--regimes", "frozen", "--timing-only", "--timing-rounds", "3", out=quick_dir,
         monkeypatch=monkeypatch)  # fmt: skip
    after = json.loads((quick_dir / "calibration-frozen.json").read_text())
    assert after["settings"]["timing_rounds"] == 3 and "--timing-only" in after["timing_environment"]["command"]
    assert after["environment"] == before["environment"]
    for name, m in after["methods"].items():
        assert {k: v for k, v in m.items() if k != "cost"} == {
            k: v for k, v in before["methods"][name].items() if k != "cost"
        }
    _check_costs(after["methods"], 3)


def test_import_benchmark(quick_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`run.py import` times its commands as fresh processes and takes the median per-round ratio: with stand-in
    commands of known cost (a package twice as slow as the baseline), the ratio comes out near 2."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    bench_import = importlib.import_module("bench_import")
    monkeypatch.setattr(
        bench_import,
        "COMMANDS",
        {
            "baseline": "import time; time.sleep(0.1)",
            "package": "import time; time.sleep(0.2)",
            "package_trainer": "import time; time.sleep(0.3)",
        },
    )
    _run("import", out=quick_dir, monkeypatch=monkeypatch)
    res = json.loads((quick_dir / "import.json").read_text())
    assert set(ENV_KEYS) <= set(res["environment"]) and res["rounds"] == 3
    assert all(len(times) == 3 for times in res["seconds"].values())
    # process start-up adds the same cost to every command, so the ratios sit below 2 and 3
    assert 1.2 < res["ratio_median"] < 2.05 and res["ratio_median"] < res["trainer_ratio_median"] < 3.05
    q1, q3 = res["ratio_quartiles"]
    assert q1 <= res["ratio_median"] <= q3
    assert res["median_seconds"]["package"] == statistics.median(res["seconds"]["package"])


def test_report_renders(quick_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """report.py renders the quick results of all five benchmarks without error."""
    for bench in ("head", "step", "convergence", "calibration"):
        _ensure(bench, quick_dir, monkeypatch)
    if not (quick_dir / "import.json").exists():
        test_import_benchmark(quick_dir, monkeypatch)
    out = tmp_path / "README.md"
    main_readme = tmp_path / "main-README.md"
    main_readme.write_text(
        "# x\n\n<!-- results:start (generated by `python benchmarks/report.py --readme README.md`) -->\n"
        "the old summary\n<!-- results:end -->\n\nafter\n"
    )
    _main("report.py", ["--results", str(quick_dir), "-o", str(out), "--readme", str(main_readme)], monkeypatch)
    text = out.read_text()
    for heading in (
        "## 1. Head cost",
        "## 2. Training step",
        "### Decoder sequence classification",
        "### Token classification",
        "### Head-only Monte-Carlo dropout on a token head",
        "## 3. Convergence",
        "## 4. Calibration",
        "## 5. Import cost",
    ):
        assert heading in text
    imp = json.loads((quick_dir / "import.json").read_text())
    assert (
        f"**{imp['ratio_median']:.2f}x** [" in text
        and f"| **{imp['ratio_median']:.2f}x** time" in main_readme.read_text()
    )
    step = json.loads((quick_dir / "step.json").read_text())
    mc = step["token_mc"]
    assert f"**{mc['time_ratio']:.3f}x**" in text  # the Monte-Carlo cost as the benchmark computed it
    msd8 = next(r for r in step["token"]["minilm"]["rows"] if r["variant"] == "msd8")
    assert f"peak step memory {msd8['peak_step_ratio_to_plain']:.3f}x" in text
    assert "### Compiled: `torch.compile(model, fullgraph=True)`" in text and "| MSD K=8, compiled |" in text
    summary = main_readme.read_text()
    compiled_row = next(line for line in summary.splitlines() if "`torch.compile(fullgraph=True)` (eager)" in line)
    compiled = next(r for r in step["compiled"]["token"]["rows"] if r["variant"] == "msd8")
    assert f"token {step['compiled']['token']['settings']['batch_size']} x " in compiled_row
    assert f"**{compiled['time_ratio_to_plain']:.3f}x** time" in compiled_row
    assert "the old summary" not in summary and summary.endswith("<!-- results:end -->\n\nafter\n")
    assert "| Training step, " in summary and "| Convergence, " in summary and "| Head, K=8" not in summary
    assert "| Training step, token classification, " in summary and "| Head-only MC dropout on a token head" in summary
    # The convergence section: the token regime, and the equal-compute rows as the benchmark computed them.
    token = json.loads((quick_dir / "convergence-token.json").read_text())
    assert f"### {token['title']}" in text and "| final entity F1 (%) |" in text
    f1 = token["equal_compute"]["rdrop"]["eval_f1"]["minus_reference_best"]
    loss = token["equal_compute"]["whole2"]["eval_loss"]["minus_reference_last"]
    assert f"({100 * f1['min']:+.1f} to {100 * f1['max']:+.1f})" in text
    assert f"({loss['min']:+.4f} to {loss['max']:+.4f})" in text
    small = json.loads((quick_dir / "convergence-small.json").read_text())["equal_compute"]["whole8"]["eval_loss"]
    assert f"{small['variant_final']['mean']:.4f} ± {small['variant_final']['std']:.4f}" in text
    token_row = next(line for line in summary.splitlines() if line.startswith("| Training step, token classification"))
    assert "MSD K=8 **" in token_row and "the naive K-copy recipe **" in token_row  # one row per shape, both heads
    assert "**At equal compute** (5 comparisons" in summary  # full: R-Drop; small: M=8, R-Drop; token: M=2, R-Drop


def test_equal_compute_verdict_in_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's equal-compute sentence names a winner only when every comparison points one way."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    in_words = importlib.import_module("report_convergence")._in_words
    assert "better spent on more steps of the upstream head" in in_words(5, [0, 5], [0, 4])
    assert "beat more steps of the upstream head" in in_words(3, [3, 0], [2, 0])
    assert in_words(5, [0, 4], [0, 4]) == ""  # one comparison with a mixed eval loss: no sentence
    assert in_words(5, [0, 5], [1, 3]) == ""  # the variant had the higher accuracy on every seed once
