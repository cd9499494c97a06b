"""The report's vision sections: the paper's convergence claim on MNIST from scratch (`convergence-vision.json`) and
the image rows of the step benchmark; their README rows. Every number and verdict is computed from the raw runs in
the JSON files."""

from __future__ import annotations

import statistics
from typing import Any

from report_format import environment_line

LABELS = {"none": "no dropout", "plain": "one sample at 0.5 (baseline)", "msd8": "MSD K=8 at 0.5"}


def _pm(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    mean = statistics.fmean(values) * scale
    std = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _runs(v: dict[str, Any]) -> list[dict[str, Any]]:
    return list(v["per_seed"].values())


def _steps_cell(row: dict[str, Any]) -> str:
    """Per-seed steps (— = never) and the median ratio to plain's own steps."""
    steps = ", ".join("—" if s is None else str(s) for s in row["steps"])
    ratios = [r for r in row["steps_ratio_to_plain"] if r is not None]
    median = f" [{statistics.median(ratios):.2f}x]" if ratios and len(ratios) == len(row["steps"]) else ""
    return steps + median


def _seconds_cell(row: dict[str, Any]) -> str:
    seconds = [s for s in row["train_s"] if s is not None]
    if len(seconds) < len(row["train_s"]):
        return f"{len(row['train_s']) - len(seconds)} seed(s) never" + (
            f"; others {statistics.median(seconds):.1f} s" if seconds else ""
        )
    return f"{statistics.median(seconds):.1f} s"


def reach_verdict(row: dict[str, Any]) -> tuple[str, float | None, int, int]:
    """From the per-seed steps to a target: 'holds' (every seed gets there, the median ratio to plain's steps is below
    1 and more than half of the seeds get there earlier), 'does not hold' (the median ratio is at least 1, or at most
    half of the seeds get there earlier), otherwise 'mixed' (e.g. most seeds earlier, one never); the median ratio
    (None when a seed never gets there), the seeds earlier, and the seeds."""
    ratios, n = row["steps_ratio_to_plain"], len(row["steps"])
    earlier = sum(r is not None and r < 1 for r in ratios)
    if any(s is None for s in row["steps"]) or any(r is None for r in ratios):
        return ("mixed" if earlier > n / 2 else "does not hold"), None, earlier, n
    median = statistics.median(ratios)
    if median < 1 and earlier > n / 2:
        return "holds", median, earlier, n
    return ("does not hold" if median >= 1 or earlier <= n / 2 else "mixed"), median, earlier, n


def arch_lines(arch: str, res: dict[str, Any]) -> list[str]:
    """One architecture's table and its verdict in words."""
    variants, reach = res["variants"], res["reach"]
    plain = variants["plain"]
    out = [
        f"#### {res['model']} ({res['parameters']:,} parameters; {arch})",
        "",
        "| variant | final training loss | final eval loss | final eval error (%) | best eval error (%) | final ECE "
        "| steps to plain's final training loss [median / plain's] | train time there | steps to plain's best eval "
        "error [median / plain's] | train time there | train time / step (vs plain) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, v in variants.items():
        runs = _runs(v)
        cells = [
            LABELS.get(name, name),
            _pm([r["train_loss"][-1] for r in runs], digits=4),
            _pm([r["eval_loss"][-1] for r in runs], digits=4),
            _pm([1 - r["eval_accuracy"][-1] for r in runs], 100, 2),
            _pm([1 - max(r["eval_accuracy"]) for r in runs], 100, 2),
            _pm([r["eval_ece"][-1] for r in runs], digits=4),
            _steps_cell(reach[name]["train_loss"]),
            _seconds_cell(reach[name]["train_loss"]),
            _steps_cell(reach[name]["eval_error"]),
            _seconds_cell(reach[name]["eval_error"]),
            f"{v['step_s_mean'] * 1e3:.1f} ms ({v['step_time_ratio_to_plain']['mean']:.2f}x)",
        ]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", *verdict_lines(res, plain), ""]
    return out


def verdict_lines(res: dict[str, Any], plain: dict[str, Any]) -> list[str]:
    """The claim for one architecture, in words: MSD K=8 against the one-sample baseline."""
    msd = res["variants"].get("msd8")
    if msd is None:
        return []
    lines = []
    for key, what in (("train_loss", "plain's final training loss"), ("eval_error", "plain's best eval error")):
        verdict, median, earlier, n = reach_verdict(res["reach"]["msd8"][key])
        never = sum(x is None for x in res["reach"]["msd8"][key]["steps"])
        amount = f"median {median:.2f}x plain's steps" if median is not None else f"never on {never} seed(s)"
        lines.append(f"- Steps to {what}: **{verdict}** ({amount}; earlier than plain on {earlier}/{n} seeds).")
    runs, base = _runs(msd), _runs(plain)
    d_err = [(1 - a["eval_accuracy"][-1]) - (1 - b["eval_accuracy"][-1]) for a, b in zip(runs, base, strict=True)]
    d_loss = [a["eval_loss"][-1] - b["eval_loss"][-1] for a, b in zip(runs, base, strict=True)]
    d_ece = [a["eval_ece"][-1] - b["eval_ece"][-1] for a, b in zip(runs, base, strict=True)]
    lower = sum(d < 0 for d in d_err)
    lines.append(
        f"- At equal steps (the end): eval error {_pm(d_err, 100, 2)} pp, eval loss {_pm(d_loss, digits=4)}, ECE "
        f"{_pm(d_ece, digits=4)} vs plain (paired by seed; error lower on {lower}/{len(d_err)} seeds)."
    )
    return lines


def vision_section(res: dict[str, Any], img: str, step: dict[str, Any] | None = None) -> list[str]:
    """The vision regime: what ran, one table per architecture, the verdicts, equal compute from the step rows."""
    s = res["settings"]
    out = [
        f"### {res['title']} (the paper's regime)",
        "",
        res["description"].split("\n\n")[0].replace("\n", " "),
        "",
        f"{s['n_train']:,} training images, {s['n_val']:,} validation images, {s['steps']} steps of {s['batch_size']} "
        f"(lr {s['lr']}, warm-up {s['warmup_fraction']:.0%}, weight decay {s['weight_decay']}), an evaluation every "
        f"{s['eval_every']} steps; seeds {res['seeds']}. {s.get('note', '')}",
        "",
        "*Training loss* = the mean training objective over the steps since the previous evaluation (with dropout for "
        "the dropout variants: over the K samples for K=8, whose per-sample loss has the same expectation as plain's "
        "one sample). *Steps to plain's ...* = per seed, the first evaluated step at which the run is at or below the "
        "same seed's plain run's final training loss / best eval error (— = never; resolution: the evaluation "
        "interval), and in brackets the median over seeds of those steps divided by the steps plain itself needed "
        "(below 1: fewer steps than plain). *Train time there* = those steps x the run's training time per step "
        "(median over seeds). Values are mean ± std over seeds.",
        "",
        f"Environment: {environment_line(res['environment'])}. Wall time {res['wall_s'] / 60:.1f} min.",
        "",
    ]
    for arch, a in res["architectures"].items():
        out += arch_lines(arch, a)
    out += equal_compute_lines(step)
    out += [f"![vision convergence]({img})", ""]
    return out


def equal_compute_lines(step: dict[str, Any] | None) -> list[str]:
    """Whether equal steps are equal compute in the vision regime, from the image rows of the step benchmark."""
    if not step or "image" not in step:
        return [
            "Equal compute: no image rows in the step results (`python benchmarks/run.py step --parts image`).",
            "",
        ]
    cells = []
    within = True
    for table in step["image"].values():
        r = {row["variant"]: row for row in table["rows"]}["msd8"]
        t, m = r["time_ratio_to_plain"], r["peak_step_ratio_to_plain"]
        within &= t <= 1.01 and m <= 1.01
        cells.append(f"{table['settings']['model']}: {t:.3f}x the step time, {m:.3f}x the peak step memory")
    verdict = (
        "so equal steps are equal compute here (within the 1.01x target)"
        if within
        else "above the 1.01x target: equal steps are not quite equal compute, and the step counts above understate "
        "MSD's cost by that factor (the train-time columns include it)"
    )
    return [
        f"**Equal compute.** MSD K=8 against the one-sample head (step benchmark): {'; '.join(cells)}; {verdict}.",
        "",
    ]


def vision_summary_rows(
    res: dict[str, Any] | None, step: dict[str, Any] | None, run_cell
) -> list[tuple[str, str, str]]:
    """The main README's rows: the claim per architecture (steps to plain's final training loss and best eval error,
    final error vs plain), and the image step row."""
    rows = []
    if res:
        cells = []
        for a in res["architectures"].values():
            parts = []
            for key, what in (
                ("train_loss", "steps to plain's final train loss"),
                ("eval_error", "to its best error"),
            ):
                verdict, median, _, n = reach_verdict(a["reach"]["msd8"][key])
                parts.append(f"{what} {'—' if median is None else f'{median:.2f}x'} ({verdict})")
            runs, base = _runs(a["variants"]["msd8"]), _runs(a["variants"]["plain"])
            d = [b["eval_accuracy"][-1] - x["eval_accuracy"][-1] for x, b in zip(runs, base, strict=True)]
            cells.append(f"{a['model'].removesuffix('ForImageClassification')}: {'; '.join(parts)}; final error "
                         f"{_pm(d, 100, 2)} pp")  # fmt: skip
        rows.append(
            (
                f"The paper's claim, {res['title']} ({len(res['seeds'])} seeds): MSD K=8 vs one dropout sample at 0.5",
                " / ".join(cells),
                run_cell(res),
            )
        )
    if step and "image" in step:
        cells = []
        for table in step["image"].values():
            r = {row["variant"]: row for row in table["rows"]}["msd8"]
            cells.append(
                f"{table['settings']['model'].removesuffix('ForImageClassification')} "
                f"**{r['time_ratio_to_plain']:.3f}x** time, **{r['peak_step_ratio_to_plain']:.3f}x** peak step memory"
            )
        image_run = step.get("part_runs", {}).get("image", step)
        title = "Training step, MNIST batch of 64: MSD K=8 vs the one-sample head"
        rows.append((title, "; ".join(cells), run_cell({"environment": image_run["environment"]})))
    return rows
