"""The report's calibration section (the convergence section is in `report_convergence.py`)."""

from __future__ import annotations

from typing import Any

from report_format import environment_line, pm

CALIBRATION_METRICS = (("ece", "ECE"), ("nll", "NLL"), ("brier", "Brier"), ("aurc", "AURC"))
MC_DEPTHS = (("msd_mc0_8", "head only"), ("msd_mc1_8", "top 1 layer"), ("msd_mc2_8", "top 2 layers"))


def calibration_section(results: list[dict[str, Any]], imgs: list[str]) -> list[str]:
    out = ["## 4. Calibration and uncertainty: the Monte-Carlo dropout dial", ""]
    s0 = results[0]["settings"]
    out += [
        f"{s0['model']}; BBC News, {s0['split']}: temperature scaling is fitted on the first half ({s0['n_fit']} "
        f"articles) and every method is reported on the second ({s0['n_report']} articles). Per seed, a plain model "
        f"(upstream head) and an MSD model (K={s0['num_samples']}, rate {s0['base_rate']}) train from the same start "
        "on the same batches. *max-softmax*: the probabilities of the deterministic eval logits; *temperature "
        "scaling*: one T fitted by NLL on the fit half; *MC*: `msd.mc_dropout` with N samples at the given depth, "
        "the mean probabilities of the samples. ECE: top label, 15 equal-width bins; NLL in nats; AURC: area under "
        "the risk-coverage curve, examples ranked by confidence. Lower is better for all four. *Cost*: evaluation "
        "time relative to one deterministic evaluation of the MSD model, the methods timed round-robin in shuffled "
        "order "
        f"({s0['timing_rounds']} rounds after a warm-up round, {s0['n_timing']} report articles, batches of "
        f"{s0['eval_batch']}), median of the per-round ratios; temperature scaling costs one deterministic "
        f"evaluation. Seeds: {results[0]['seeds']}.",
        "",
    ]
    for res, img in zip(results, imgs, strict=True):
        s, methods = res["settings"], res["methods"]
        n_layers = s["num_layers"]
        out += [f"### {res['title']}", ""]
        out += [
            f"{s['n_train']} training articles, {s['seq_len']} tokens, batch {s['batch_size']}, {s['steps']} steps, "
            f"AdamW lr {s['lr']:g}; {n_layers} layers. Wall time {res['wall_s'] / 60:.1f} min. Run: "
            f"{environment_line(res['environment'])}."
            + (
                f" Cost {s['timing']}: {environment_line(res['timing_environment'])}."
                if "timing_environment" in res
                else ""
            ),
            "",
            "| method | cost | accuracy (%) | " + " | ".join(label for _, label in CALIBRATION_METRICS) + " |",
            "|---|---|---|" + "---|" * len(CALIBRATION_METRICS),
        ]
        for m in methods.values():
            cells = [f"{m['cost']['ratio_median']:.2f}x", pm(m["accuracy"], pct=True)]
            cells += [pm(m[key], 4) for key, _ in CALIBRATION_METRICS]
            out.append(f"| {m['label']} | " + " | ".join(cells) + " |")
        temperatures = ", ".join(
            f"{methods[name]['label'].split(',')[0]} T = {pm(methods[name]['fitted_temperature'], 2)}"
            for name in ("plain_ts", "msd_ts")
        )
        out += [
            "",
            f"Fitted temperatures (mean ± std over seeds): {temperatures}.",
            "",
            "Paired difference to *MSD head, max-softmax* (same seed; mean ± std over seeds; negative = better):",
            "",
            "| method | " + " | ".join(f"Δ {label}" for _, label in CALIBRATION_METRICS) + " |",
            "|---|" + "---|" * len(CALIBRATION_METRICS),
        ]
        for name, m in methods.items():
            if name != "msd":
                cells = [pm(m[f"{key}_minus_msd"], 4) for key, _ in CALIBRATION_METRICS]
                out.append(f"| {m['label']} | " + " | ".join(cells) + " |")
        out += ["", "Verdict (mechanical, from the numbers above):", "", *_calibration_verdicts(res), ""]
        out += [f"![calibration {res['regime']}]({img})", ""]
    return out


def _calibration_verdicts(res: dict[str, Any]) -> list[str]:
    methods, seeds = res["methods"], [str(x) for x in res["seeds"]]
    n_layers, n = res["settings"]["num_layers"], len(res["seeds"])
    lines = []
    cost = {name: m["cost"]["ratio_median"] for name, m in methods.items()}
    if "msd_mc0_32" in cost:
        met = "met" if cost["msd_mc0_32"] <= 1.05 else "**not met**"
        lines.append(f"- Cost: head-only MC with N=32 costs {cost['msd_mc0_32']:.2f}x a deterministic evaluation "
                     f"(target <= 1.05x: {met}).")  # fmt: skip
    for name, k in (("msd_mc1_8", 1), ("msd_mc2_8", 2)):
        if name in cost:
            lines.append(f"- Cost: top {k} layer(s), N=8: {cost[name]:.2f}x (1 + (N - 1) k / L = "
                         f"{1 + 7 * k / n_layers:.2f}x).")  # fmt: skip
    if "msd_mcall_8" in cost:
        met = "met" if cost["msd_mcall_8"] <= 8 else "**not met**"
        lines.append(f"- Cost: whole network, N=8, batched: {cost['msd_mcall_8']:.2f}x (target <= 8x: {met}).")
    for key, label in CALIBRATION_METRICS:
        base, whole = methods["msd"][key]["mean"], methods["msd_mcall_8"][key]["mean"]
        gain, spread = base - whole, methods["msd_mcall_8"][f"{key}_minus_msd"]["std"]
        if gain <= 0:
            lines.append(f"- {label}: the whole network does not improve on max-softmax ({base:.4f} -> {whole:.4f}).")
            continue
        shares = ", ".join(
            f"{depth} {100 * (base - methods[name][key]['mean']) / gain:.0f}%" for name, depth in MC_DEPTHS
        )
        caveat = f" (the gain is within the seed spread, std {spread:.4f})" if gain < spread else ""
        lines.append(
            f"- {label}: whole-network gain {gain:.4f} ({base:.4f} -> {whole:.4f}){caveat}; share of it bought by "
            f"{shares}."
        )
    lines += [
        "",
        f"Monte-Carlo methods of the MSD model against max-softmax (seeds with a lower value, of {n}) and against "
        "temperature scaling (whether the mean is lower):",
        "",
        "| method | " + " | ".join(label for _, label in CALIBRATION_METRICS) + " |",
        "|---|" + "---|" * len(CALIBRATION_METRICS),
    ]
    for m in methods.values():
        if not m["num_samples"] or m["model"] != "msd8":
            continue
        cells = []
        for key, _ in CALIBRATION_METRICS:
            wins = sum(m["per_seed"][x][key] < methods["msd"]["per_seed"][x][key] for x in seeds)
            ts = "below" if m[key]["mean"] < methods["msd_ts"][key]["mean"] else "**not below**"
            cells.append(f"{wins}/{n} seeds; {ts} TS")
        lines.append(f"| {m['label']} | " + " | ".join(cells) + " |")
    return lines
