"""The report's convergence section: per regime, the variants at equal steps and the whole-network variants at equal
compute (against the upstream head trained for as many encoder passes), with mechanical verdicts; and the one-line
verdicts of the main README's summary."""

from __future__ import annotations

import statistics
from typing import Any

from bench_convergence_summary import final_value
from report_format import VARIANT_LABELS, environment_line, pm

#: The metrics of the equal-compute tables: (key, label, in percent, higher is better).
COMPUTE_METRICS = (
    ("eval_loss", "eval loss", False, False),
    ("eval_accuracy", "accuracy (%)", True, True),
    ("eval_f1", "entity F1 (%)", True, True),
    ("eval_ece", "ECE", False, False),
)


def label(name: str) -> str:
    return VARIANT_LABELS.get(name, name)


def is_token(res: dict[str, Any]) -> bool:
    return res["settings"].get("task") == "token-classification"


def _num(x: float, pct: bool, digits: int = 3, sign: bool = False) -> str:
    return f"{100 * x:{'+' if sign else ''}.1f}" if pct else f"{x:{'+' if sign else ''}.{digits}f}"


def signed(d: dict[str, float], digits: int = 3, pct: bool = False) -> str:
    """A paired difference: `+mean ± std`."""
    return f"{_num(d['mean'], pct, digits, True)} ± {_num(d['std'], pct, digits)}"


def _span(d: dict[str, Any], pct: bool, digits: int = 3) -> str:
    """A paired difference: `mean ± std (min to max)`."""
    lo, hi = _num(d["min"], pct, digits, True), _num(d["max"], pct, digits, True)
    return f"{_num(d['mean'], pct, digits, True)} ± {_num(d['std'], pct, digits)} ({lo} to {hi})"


def final_ece(res: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Mean and std over seeds of each variant's final ECE (the last evaluation's, or from the final eval logits of
    runs recorded without ECE); `{}` when a variant has neither."""
    labels = res.get("eval_labels")
    out = {}
    for name, v in res["variants"].items():
        values = [final_value(run, "eval_ece", labels) for run in v["per_seed"].values()]
        if None in values:
            return {}
        out[name] = {"mean": statistics.fmean(values), "std": statistics.pstdev(values)}
    return out


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def _seconds(d: dict[str, float]) -> str:
    """`mean ± std` of a time, in ms below 0.1 s."""
    if d["mean"] < 0.1:
        return f"{1000 * d['mean']:.1f} ± {1000 * d['std']:.1f} ms"
    return f"{d['mean']:.2f} ± {d['std']:.2f} s"


def _first_min_step(run: dict[str, Any]) -> int:
    """The step at which a run reached its own best eval loss."""
    losses = run["eval_loss"]
    return run["steps"][losses.index(min(losses))]


def _count_word(n_up: int, n_down: int, n: int, what: str) -> str:
    if n_up == n:
        return f"higher {what} on every seed"
    if n_down == n:
        return f"lower {what} on every seed"
    return f"no consistent {what} difference (higher on {n_up}/{n}, lower on {n_down}/{n})"


def convergence_section(results: list[dict[str, Any]], imgs: list[str]) -> list[str]:
    out = ["## 3. Convergence: equal steps and equal compute", ""]
    first = results[0]
    out += [
        "Every variant of a seed starts from the same weights and sees the same batches in the same order, so "
        f"differences to plain are paired by seed. Seeds: {first['seeds']}. Eval metrics on the whole validation "
        "split, eval mode, at every evaluation.",
        "",
        "*Equal steps.* *Final* = at the last step; *Δ vs plain* = final value minus the same seed's plain run at the "
        "same step, mean ± std over seeds; *steps to plain's best loss* = the first evaluated step at which the run's "
        "eval loss is at or below the best eval loss the plain run of the same seed reached (per seed; `—` = never; "
        "its resolution is the evaluation interval); *below plain throughout* = the seeds on which the eval loss is "
        "below plain's at every evaluation after the start. *Train time / step* = the training time per step "
        "(forward, backward, optimizer step; evaluations excluded), and in brackets divided by the plain run's, same "
        "seed: the "
        "runs are sequential on a machine shared with other work, so these ratios are noisy (the step benchmark is "
        "the careful one). *Final ECE*: expected calibration error (top label, 15 equal-width bins; "
        "`msd.expected_calibration_error`) of the final eval predictions (tokens: the labelled tokens).",
        "",
        "*Equal compute.* Compute counts forward+backward passes of the encoder: a step of a whole-network variant "
        "(M passes over the batch: whole network M=8 or M=2, R-Drop M=2) counts M; a step of a head-only variant "
        "(MSD: K samples of the head, one encoder pass) counts 1, and costs about one plain step (the tables give its "
        "time). Each whole-network variant is compared with the upstream head trained for M times the steps "
        "(`plain_Mx`: the same batches, then more; the same schedule stretched to its length) at its *best* "
        "evaluation (the smallest eval loss, the largest accuracy / entity F1, each over all its evaluations; ECE at "
        "the evaluation of its smallest eval loss) and at its *last*. The best is chosen on the split it is reported "
        "on (there is no separate test split): what early stopping on that split would give, which favours the "
        "upstream head. Paired differences are variant minus reference, mean ± std (smallest to largest over seeds).",
        "",
    ]
    s0 = first["settings"]
    if "msd_consistency" in s0:
        out += [
            f"R-Drop and head-only consistency add `msd_consistency * consistency_loss` with `msd_consistency = "
            f"{s0['msd_consistency']:g}`: R-Drop's paper objective NLL1 + NLL2 + α (KL(P1‖P2) + KL(P2‖P1)) / 2 with "
            f"α = {s0['rdrop_alpha']:g} (the official BERT GLUE code's weight), divided by 2 (our loss averages the "
            "per-sample losses), so `msd_consistency = α / 2`. The head-only variant uses the same weight per pair "
            "of samples, fixed before the runs. For tokens the term is taken per labelled token and averaged over "
            "them (R-Drop's token form), as `MSDTrainer` computes it.",
            "",
        ]
    bbc_intro = False
    for res, img in zip(results, imgs, strict=True):
        if not is_token(res) and not bbc_intro:
            bbc_intro = True
            s = res["settings"]
            out += [
                f"**BBC News.** {s['model']}; BBC News (2,225 articles, 5 classes), {s['split']} ({s['n_val']} "
                "validation articles, the same split for every run; the corpus has no official split).",
                "",
            ]
        out += _regime(res, img)
    return out


def _regime(res: dict[str, Any], img: str) -> list[str]:
    s, token = res["settings"], is_token(res)
    out = [f"### {res['title']}", ""]
    extra = f"; the {s['n_train']} training examples are drawn per seed, stratified" if s["per_class"] else ""
    lr = f"AdamW lr {s['lr']:g}" + (f" (classifier {s['head_lr']:g})" if s.get("head_lr") else "")
    data = ""
    longer = " (`plain_Mx`: M times as many)" if res.get("equal_compute") else ""
    if token:
        types = len({n[2:] for n in s["labels"] if n != "O"})
        data = (
            f"{s['model']}; {s['split']}: {s['n_val']} validation tweets, {s['n_val_words']:,} labelled words, "
            f"{s['n_val_entities']} entities of {types} types ({s['scheme']}); "
            "a batch padded to its longest tweet, tags on each word's first sub-token. "
        )
    out += [
        f"{data}{s['n_train']} training examples{extra}; {s['seq_len']} tokens{' at most' if token else ''}; batch "
        f"{s['batch_size']}; {s['steps']} steps{longer}, evaluated every {s['eval_every']}; "
        f"{lr}, weight decay {s['weight_decay']}, linear warm-up {s['warmup_fraction']:.0%} and decay to 0. "
        f"Wall time {res['wall_s'] / 60:.1f} min. Run: {environment_line(res['environment'])}.",
        "",
    ]
    for added in res.get("added", []):
        names = ", ".join(f"`{v}`" for v in added["variants"])
        out += [
            f"Added later ({names}, {added['wall_s'] / 60:.1f} min): {environment_line(added['environment'])}.",
            "",
        ]
    if s.get("note"):
        out += [s["note"], ""]
    if s["frozen"]:
        out += [
            "The encoder (including BERT's pooler) is frozen and has no trainable part, so its pooled outputs "
            "(the classifier dropout's input) were computed once in eval mode and cached; only dropout -> "
            "`Linear` -> loss trains (plain: `nn.Dropout` + cross-entropy; MSD: this package's "
            "`MultiSampleDropout` + `sample_losses`, as in `MSDBertForSequenceClassification`). The "
            "whole-network variant does not apply here: the encoder's dropouts are not sampled.",
            "",
        ]
    out += _equal_steps(res)
    out += _equal_compute(res)
    out += [f"![{res['regime']}]({img})", ""]
    return out


def _equal_steps(res: dict[str, Any]) -> list[str]:
    s, token = res["settings"], is_token(res)
    n = len(res["seeds"])
    seeds = [str(x) for x in res["seeds"]]
    variants = {k: v for k, v in res["variants"].items() if v.get("steps_multiplier", 1) == 1}
    plain = variants["plain"]
    ece = final_ece(res)
    f1 = "| final entity F1 (%) | Δ F1 vs plain (pp) " if token else ""
    out = [
        "| variant | final eval loss | Δ loss vs plain | final accuracy (%) | Δ acc vs plain (pp) "
        f"{f1}| best eval loss | steps to plain's best loss | below plain throughout | time per run "
        "| train time / step (vs plain) |" + (" final ECE |" if ece else ""),
        "|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if token else "") + ("---|" if ece else ""),
    ]
    verdicts = []
    for name, v in variants.items():
        reach = v["steps_to_plain_best_eval_loss"]["per_seed"]
        cells = [label(name), pm(v["final_eval_loss"], 4)]
        cells.append("—" if name == "plain" else signed(v["final_eval_loss_minus_plain"], 4))
        cells.append(pm(v["final_eval_accuracy"], pct=True))
        cells.append("—" if name == "plain" else signed(v["final_eval_accuracy_minus_plain"], pct=True))
        if token:
            cells.append(pm(v["final_eval_f1"], pct=True))
            cells.append("—" if name == "plain" else signed(v["final_eval_f1_minus_plain"], pct=True))
        below = v.get("eval_loss_below_plain_at_every_evaluation")
        cells += [
            pm(v["best_eval_loss"], 4),
            ", ".join("—" if r is None else str(r) for r in reach),
            "—" if name == "plain" or below is None else f"{sum(below)}/{n}",
            f"{v['wall_s_mean']:.0f} s",
            f"{_seconds(_mean_std([run['step_s'] for run in v['per_seed'].values()]))} "
            f"({pm(v['step_time_ratio_to_plain'], 2)}x)",
        ]
        if ece:
            cells.append(pm(ece[name], 4))
        out.append("| " + " | ".join(cells) + " |")
        if name == "plain":
            continue
        d = v["final_eval_loss_minus_plain"]
        diffs = [v["per_seed"][k]["eval_loss"][-1] - plain["per_seed"][k]["eval_loss"][-1] for k in seeds]
        better = sum(x < 0 for x in diffs)
        if better == n and abs(d["mean"]) > d["std"]:
            word = "**lower final eval loss on every seed**"
        elif better == 0 and abs(d["mean"]) > d["std"]:
            word = "**higher final eval loss on every seed** (worse)"
        else:
            word = "no consistent difference in final eval loss (within the seed spread)"
        faster = sum(
            r is not None and r < _first_min_step(plain["per_seed"][k]) for r, k in zip(reach, seeds, strict=True)
        )
        scores = []
        for key, what in (("eval_accuracy", "final accuracy"), *((("eval_f1", "final entity F1"),) if token else ())):
            up = sum(v["per_seed"][k][key][-1] > plain["per_seed"][k][key][-1] for k in seeds)
            down = sum(v["per_seed"][k][key][-1] < plain["per_seed"][k][key][-1] for k in seeds)
            dm = v[f"final_{key}_minus_plain"]
            scores.append(f"{_count_word(up, down, n, what)} (Δ {100 * dm['mean']:+.1f} ± {100 * dm['std']:.1f} pp)")
        through = f"; below plain at every evaluation on {sum(below)}/{n} seeds" if below is not None else ""
        verdicts.append(
            f"- {label(name)}: {word} (lower on {better}/{n} seeds, Δ {d['mean']:+.4f} ± {d['std']:.4f}{through}); "
            f"{'; '.join(scores)}; reached plain's best eval loss at an earlier evaluation than plain on "
            f"{faster}/{n} seeds."
        )
    plain_runs = [plain["per_seed"][k] for k in seeds]
    if all(_first_min_step(r) == r["steps"][-1] for r in plain_runs):
        verdicts.append(
            "- Plain was still improving at its last evaluation on every seed: this regime stops before "
            "convergence, so *steps to plain's best* can only show savings of at least one evaluation interval "
            f"({s['eval_every']} steps); the final-loss differences are differences in how far training got."
        )
    return [*out, "", "Verdict at equal steps (mechanical, from the paired per-seed numbers):", "", *verdicts, ""]


def _equal_compute(res: dict[str, Any]) -> list[str]:
    rows = res.get("equal_compute") or {}
    if not rows:
        return []
    out = [
        "Equal compute: each whole-network variant at its last step against the upstream head trained for the same "
        "number of encoder passes.",
        "",
        "| variant (compute) | metric | variant, final | upstream head, best | Δ vs its best | upstream head, last "
        "| Δ vs its last |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        ref = row["reference"]
        head = f"{label(name)} vs `{ref}` ({row['compute']} passes; {row['reference_steps']} upstream steps)"
        for key, what, pct, _higher in COMPUTE_METRICS:
            if key not in row:
                continue
            r = row[key]
            digits = 4
            cells = [
                head,
                what,
                pm(r["variant_final"], digits, pct),
                pm(r["reference_best"], digits, pct),
                _span(r["minus_reference_best"], pct, digits),
                pm(r["reference_last"], digits, pct),
                _span(r["minus_reference_last"], pct, digits),
            ]
            head = ""
            out.append("| " + " | ".join(cells) + " |")
    out += ["", "Verdict at equal compute (mechanical, from the paired per-seed numbers):", ""]
    out += [f"- {line}" for line in compute_verdicts(res)]
    return [*out, ""]


def compute_verdicts(res: dict[str, Any]) -> list[str]:
    """One plain-words verdict per whole-network variant of a regime at equal compute."""
    lines = []
    for name, row in (res.get("equal_compute") or {}).items():
        n = len(row["eval_loss"]["variant_final"]["per_seed"])
        m = row["reference"].removeprefix("plain_").removesuffix("x")
        parts = []
        loss_best = row["eval_loss"]["minus_reference_best"]["per_seed"]
        loss_last = row["eval_loss"]["minus_reference_last"]["per_seed"]
        if all(x < 0 for x in loss_best):
            parts.append("lower eval loss than the upstream head's best on every seed")
        elif all(x > 0 for x in loss_best):
            parts.append(
                "higher eval loss than the upstream head's best on every seed"
                + (" (and than its last)" if all(x > 0 for x in loss_last) else "")
            )
        else:
            lower = sum(x < 0 for x in loss_best)
            parts.append(f"eval loss below the upstream head's best on {lower}/{n} seeds")
        for key, what in (("eval_f1", "entity F1"), ("eval_accuracy", "accuracy")):
            if key not in row:
                continue
            best = row[key]["minus_reference_best"]
            last = row[key]["minus_reference_last"]
            lo, hi = 100 * best["min"], 100 * best["max"]
            if all(x <= 0 for x in best["per_seed"]):
                verdict = f"the upstream head's best matched or beat it in {what} ({lo:+.1f} to {hi:+.1f} pp)"
            elif all(x > 0 for x in best["per_seed"]):
                verdict = f"higher {what} than the upstream head's best on every seed ({lo:+.1f} to {hi:+.1f} pp)"
            else:
                verdict = f"{what} {lo:+.1f} to {hi:+.1f} pp against the upstream head's best"
            verdict += f", {100 * last['min']:+.1f} to {100 * last['max']:+.1f} pp against its last"
            parts.append(verdict)
        if "eval_ece" in row:
            e = row["eval_ece"]
            ve, rl = e["variant_final"], e["reference_last"]
            lower = sum(x < 0 for x in e["minus_reference_last"]["per_seed"])
            parts.append(
                f"ECE {ve['min']:.3f}-{ve['max']:.3f} vs {rl['min']:.3f}-{rl['max']:.3f} at the upstream head's end "
                f"(lower on {lower}/{n} seeds)"
            )
        lines.append(f"{label(name)} vs the upstream head trained {m} times as long: " + "; ".join(parts) + ".")
    return lines


def overall_verdict(results: list[dict[str, Any]]) -> str:
    """One sentence over every equal-compute comparison of `results`: on how many the whole-network variant's final
    eval loss, accuracy / entity F1 (against the upstream head's best) and ECE (against its end) were better on every
    seed, and on how many worse."""
    names, loss, score, ece = [], [0, 0], [0, 0], [0, 0]
    for res in results:
        key = "eval_f1" if is_token(res) else "eval_accuracy"
        for name, row in (res.get("equal_compute") or {}).items():
            names.append(f"{label(name).split(' (')[0]}, {res['title']}")
            for counts, values in (
                (loss, [-x for x in row["eval_loss"]["minus_reference_best"]["per_seed"]]),
                (score, row[key]["minus_reference_best"]["per_seed"]),
                (ece, [-x for x in row.get("eval_ece", {}).get("minus_reference_last", {}).get("per_seed", [0])]),
            ):
                counts[0] += all(x > 0 for x in values)
                counts[1] += all(x <= 0 for x in values)
    n = len(names)
    return (
        f"**At equal compute** ({n} comparisons of a whole-network variant with the upstream head trained for as "
        f"many encoder passes: {'; '.join(names)}): the variant's eval loss was below the upstream head's best on "
        f"every seed in {loss[0]}/{n} and not below it on any seed in {loss[1]}/{n}; its accuracy (entity F1 for "
        f"tokens) was above the upstream head's best on every seed in {score[0]}/{n}, and matched or beaten by it on "
        f"every seed in {score[1]}/{n}; its ECE was below the upstream head's at its end on every seed in "
        f"{ece[0]}/{n}." + _in_words(n, loss, score)
    )


def _in_words(n: int, loss: list[int], score: list[int]) -> str:
    """The equal-compute counts as a conclusion a user can act on, when every comparison points one way."""
    if loss[1] == n and score[0] == 0:
        return (
            " **In words: in every comparison the compute of the extra whole-network passes was better spent on more "
            "steps of the upstream head** (its eval loss lower on every seed, its accuracy or F1 never below the "
            "variant's on every seed); these regimes "
            "stop before convergence, where more steps are worth most."
        )
    if loss[0] == n and score[1] == 0:
        return (
            " **In words: in every comparison the extra whole-network passes beat more steps of the upstream head at "
            "the same compute** in eval loss on every seed, their accuracy or F1 never below the upstream head's on "
            "every seed."
        )
    return ""
