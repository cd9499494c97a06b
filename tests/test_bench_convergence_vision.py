"""The vision convergence regime and the image step rows (tiny `--quick` runs): the summaries and the headline
quantity recomputed from the raw runs, the same start for every variant of a seed, the report's verdicts, and the
merge of a re-run step part into stored results."""

from __future__ import annotations

import importlib
import json
import statistics
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.xdist_group("benchmarks")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """The quick vision regime (3 seeds) and the quick image step rows, run once for the module."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    run = importlib.import_module("run")
    out = tmp_path_factory.mktemp("vision")
    argv = ["--quick", "--out", str(out), "--no-plot"]
    assert run.main(["convergence", "--regimes", "vision", *argv[:3]]) == 0  # with its plot
    assert run.main(["step", "--parts", "image", *argv]) == 0
    return out


def test_every_variant_of_a_seed_starts_from_the_same_weights():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    vision = importlib.import_module("bench_convergence_vision")
    for arch in vision.ARCHITECTURES:
        models = {name: vision.build_model(arch, name, True, seed=5) for name in vision.VARIANTS}
        ref = models["none"].state_dict()
        for name, model in models.items():
            state = model.state_dict()
            assert state.keys() == ref.keys() and all(torch.equal(state[k], ref[k]) for k in ref), (arch, name)
        assert type(models["msd8"]).__name__.startswith("MSD") and models["msd8"].msd.num_samples == 8
        assert models["plain"].msd.num_samples == 1 and models["plain"].msd.rates[0] == 0.5


def test_vision_regime_summaries_from_the_raw_runs(bench):
    result = json.loads((bench / "convergence-vision.json").read_text())
    assert result["regime"] == "vision" and set(result["architectures"]) == {"resnet", "vit"}
    assert (bench / "convergence-vision.png").stat().st_size > 0
    seeds = [str(s) for s in result["seeds"]]
    for arch in result["architectures"].values():
        variants = arch["variants"]
        assert list(variants) == ["none", "plain", "msd8"]
        for name, v in variants.items():
            runs = [v["per_seed"][s] for s in seeds]
            assert v["steps"] == runs[0]["steps"] and v["steps"][-1] == result["settings"]["steps"]
            assert len(runs[0]["train_loss"]) == len(v["steps"]) - 1 == len(v["train_loss_mean"])
            assert v["train_loss_mean"][-1] == pytest.approx(statistics.fmean(r["train_loss"][-1] for r in runs))
            accuracy = [r["eval_accuracy"][-1] for r in runs]
            assert v["final_eval_accuracy"]["mean"] == pytest.approx(statistics.fmean(accuracy))
            plain = [variants["plain"]["per_seed"][s]["eval_loss"][-1] for s in seeds]
            diffs = [r["eval_loss"][-1] - p for r, p in zip(runs, plain, strict=True)]
            assert v["final_eval_loss_minus_plain"]["mean"] == pytest.approx(statistics.fmean(diffs))
            # The headline quantity, recomputed: the first evaluation at or below plain's final training loss / best
            # eval error, per seed.
            reach = arch["reach"][name]
            for s, steps, seconds in zip(
                seeds, reach["train_loss"]["steps"], reach["train_loss"]["train_s"], strict=True
            ):
                run, target = v["per_seed"][s], variants["plain"]["per_seed"][s]["train_loss"][-1]
                hits = [t for t, x in zip(run["steps"][1:], run["train_loss"], strict=True) if x <= target + 1e-12]
                assert steps == (hits[0] if hits else None)
                assert seconds == (None if steps is None else pytest.approx(steps * run["step_s"]))
            for s, steps in zip(seeds, reach["eval_error"]["steps"], strict=True):
                run = v["per_seed"][s]
                target = 1 - max(variants["plain"]["per_seed"][s]["eval_accuracy"])
                hits = [t for t, a in zip(run["steps"], run["eval_accuracy"], strict=True) if 1 - a <= target + 1e-12]
                assert steps == (hits[0] if hits else None)
        # Every variant of a seed is evaluated at step 0 from the same weights.
        assert {variants[n]["per_seed"][seeds[0]]["eval_loss"][0] for n in variants} == {
            variants["none"]["per_seed"][seeds[0]]["eval_loss"][0]
        }


def test_reach_verdicts():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    verdict = importlib.import_module("report_vision").reach_verdict
    row = lambda steps, ratios: {"steps": steps, "steps_ratio_to_plain": ratios}  # noqa: E731
    assert verdict(row([10, 20, 10], [0.5, 0.8, 0.5]))[:3] == ("holds", 0.5, 3)
    assert verdict(row([40, 40, 40], [1.0, 1.0, 1.0]))[0] == "does not hold"  # as many steps is not fewer
    assert verdict(row([10, None, 10], [0.5, None, 0.5]))[:2] == ("mixed", None)  # a seed never gets there
    assert verdict(row([None, None, 10], [None, None, 0.5]))[0] == "does not hold"
    assert verdict(row([10, 50, 50], [0.5, 1.2, 1.1]))[0] == "does not hold"
    assert verdict(row([10, 10, 10, 50], [0.5, 0.5, 0.9, 1.1]))[0] == "holds"
    assert verdict(row([10, 10, 50, 50], [0.5, 0.9, 1.0, 1.1]))[0] == "does not hold"  # only half the seeds earlier


def test_image_step_rows_merge_into_stored_results(bench, tmp_path):
    step = json.loads((bench / "step.json").read_text())
    assert step["parts"] == ["image"] and set(step["image"]) == {"resnet", "vit"}
    for table in step["image"].values():
        rows = {r["variant"]: r for r in table["rows"]}
        assert list(rows) == ["plain", "msd8", "none"] and rows["plain"]["time_ratio_to_plain"] == 1.0
        assert all(r["step_s_median"] > 0 and r["peak_step_bytes"] > 0 for r in rows.values())
    sys.path.insert(0, str(ROOT / "benchmarks"))
    bench_step = importlib.import_module("bench_step")
    stored = {"parts": ["sequence", "token"], "rows": [1], "settings": {"a": 1}, "token": {"t": 1},
              "image": {"old": 1}, "environment": {"command": "all"}, "wall_s": 5.0}  # fmt: skip
    merged = bench_step.merge_parts(stored, step)
    assert merged["parts"] == ["sequence", "token", "image"] and merged["rows"] == [1] and merged["token"] == {"t": 1}
    assert merged["image"] == step["image"] and merged["environment"] == {"command": "all"}
    assert merged["part_runs"]["image"]["environment"] == step["environment"]
    report = importlib.import_module("report_cost")
    lines = "\n".join(report.image_step_lines(merged["image"], merged["part_runs"]["image"]))
    msd8 = next(r for r in step["image"]["resnet"]["rows"] if r["variant"] == "msd8")
    assert f"{msd8['time_ratio_to_plain']:.3f}x" in lines and "Run on its own:" in lines


def test_vision_report_section(bench):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    report = importlib.import_module("report_vision")
    result = json.loads((bench / "convergence-vision.json").read_text())
    step = json.loads((bench / "step.json").read_text())
    text = "\n".join(report.vision_section(result, "x.png", step))
    for arch in result["architectures"].values():
        assert f"#### {arch['model']}" in text
        runs = [r["eval_accuracy"][-1] for r in arch["variants"]["msd8"]["per_seed"].values()]
        mean = statistics.fmean(1 - a for a in runs) * 100
        assert "| MSD K=8 at 0.5 | " in text and f"{mean:.2f} ± " in text
    assert "**Equal compute.**" in text and "step time" in text
    rows = report.vision_summary_rows(result, step, lambda r: r["environment"]["command"])
    assert [r[0].split(",")[0] for r in rows] == ["The paper's claim", "Training step"]
