"""PNG plots of the benchmark results, drawn from the result JSON files (small files: 100 dpi, few points)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 90


def _save(fig: plt.Figure, path: Path, rect: tuple[float, float, float, float] = (0, 0, 1, 1)) -> Path:
    """Lay out `fig` (within `rect`), write it to `path` and close it."""
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_head(result: dict[str, Any], path: Path) -> Path:
    """Loop / vectorized time ratio against K, one line per (hidden, batch); uniform rate solid, linspace dashed."""
    rows = result["rows"]
    hiddens = sorted({r["hidden"] for r in rows})
    batches = sorted({r["batch"] for r in rows})
    fig, axes = plt.subplots(1, len(hiddens), figsize=(5 * len(hiddens), 3.6), squeeze=False, sharey=True)
    for ax, hidden in zip(axes[0], hiddens, strict=True):
        for i, batch in enumerate(batches):
            for variant, style in (("uniform", "-"), ("linspace", "--")):
                sel = sorted(
                    (r for r in rows if r["hidden"] == hidden and r["batch"] == batch and r["variant"] == variant),
                    key=lambda r: r["K"],
                )
                if sel:
                    ax.plot(
                        [r["K"] for r in sel],
                        [r["ratio_loop_over_vectorized"] for r in sel],
                        style,
                        marker="o",
                        color=f"C{i}",
                        label=f"B={batch} {variant}",
                    )
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("K (dropout samples)")
        ax.set_title(f"hidden {hidden}")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("loop time / vectorized time")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("Head forward+backward: Python loop vs vectorized MultiSampleDropout", fontsize=10)
    return _save(fig, path)


def plot_step(result: dict[str, Any], path: Path) -> Path:
    """One panel per table of the step benchmark (sequence, decoder, token shapes, compiled): the step time and the
    peak step memory of each variant relative to the plain head."""
    groups = []
    if "rows" in result:
        s = result["settings"]
        groups.append((f"sequence, {s['batch_size']} x {s['seq_len']}", result["rows"]))
    if "decoder" in result:
        groups.append(("decoder", result["decoder"]["rows"]))
    for shape, res in result.get("token", {}).items():
        s = res["settings"]
        groups.append((f"token {shape}, {s['batch_size']} x {s['seq_len']}", res["rows"]))
    for arch, res in result.get("image", {}).items():
        groups.append((f"image {arch}, MNIST batch {res['settings']['batch_size']}", res["rows"]))
    for name, res in result.get("compiled", {}).items():
        if name != "settings":
            s = res["settings"]
            groups.append((f"compiled {name}, {s['batch_size']} x {s['seq_len']}", res["rows"]))
    fig, axes = plt.subplots(1, max(1, len(groups)), figsize=(4.2 * max(1, len(groups)), 3.8), squeeze=False)
    for ax, (title, rows) in zip(axes[0], groups, strict=False):
        names = [r["variant"] for r in rows]
        x = range(len(names))
        for j, (key, label) in enumerate(
            (("time_ratio_to_plain", "step time"), ("peak_step_ratio_to_plain", "step peak memory"))
        ):
            bars = ax.bar([i + (j - 0.5) * 0.4 for i in x], [r[key] for r in rows], width=0.4, label=label)
            ax.bar_label(bars, fmt="%.2f", fontsize=6)
        ax.set_xticks(list(x), names)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.tick_params(axis="x", labelrotation=25, labelsize=7)
        ax.grid(alpha=0.3, axis="y")
        ax.set_ylim(bottom=0)
        ax.set_title(title, fontsize=9)
    axes[0][0].set_ylabel("/ plain")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Training step: time and peak step memory relative to the upstream head", fontsize=10)
    return _save(fig, path)


def plot_convergence(result: dict[str, Any], path: Path) -> Path:
    """Eval loss and accuracy (entity F1 for tokens) against training steps (mean over seeds, shaded +/- one std),
    the eval loss minus the plain run of the same seed (paired difference, mean +/- std; the variants of the regime's
    steps), and the eval loss against compute (steps x whole-network passes per step). The vision regime (one
    result per architecture): `plot_convergence_vision`."""
    if "architectures" in result:
        return plot_convergence_vision(result, path)
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    variants = result["variants"]
    seeds = [str(s) for s in result["seeds"]]
    plain = variants["plain"]
    score = "eval_f1" if "eval_f1_mean" in plain else "eval_accuracy"
    for i, (name, v) in enumerate(variants.items()):
        steps = v["steps"]
        compute = [s * v.get("passes_per_step", 1) for s in steps]
        style = "--" if v.get("steps_multiplier", 1) > 1 else "-"
        for ax, key, x in ((axes[0], "eval_loss", steps), (axes[1], score, steps), (axes[3], "eval_loss", compute)):
            mean, std = v[f"{key}_mean"], v[f"{key}_std"]
            ax.plot(x, mean, style, color=f"C{i}", label=name, lw=1.4)
            lo = [m - s for m, s in zip(mean, std, strict=True)]
            hi = [m + s for m, s in zip(mean, std, strict=True)]
            ax.fill_between(x, lo, hi, color=f"C{i}", alpha=0.15, lw=0)
        if steps != plain["steps"]:
            continue
        diffs = [
            [a - b for a, b in zip(v["per_seed"][s]["eval_loss"], plain["per_seed"][s]["eval_loss"], strict=True)]
            for s in seeds
        ]
        cols = list(zip(*diffs, strict=True))
        mean = [sum(c) / len(c) for c in cols]
        std = [(sum((x - m) ** 2 for x in c) / max(1, len(c) - 1)) ** 0.5 for c, m in zip(cols, mean, strict=True)]
        axes[2].plot(steps, mean, color=f"C{i}", label=name, lw=1.4)
        axes[2].fill_between(
            steps, [m - s for m, s in zip(mean, std, strict=True)], [m + s for m, s in zip(mean, std, strict=True)],
            color=f"C{i}", alpha=0.15, lw=0,
        )  # fmt: skip
    axes[0].set_ylabel("eval loss (log scale)")
    axes[1].set_ylabel("entity F1 (micro)" if score == "eval_f1" else "eval accuracy")
    axes[2].set_ylabel("eval loss - plain (same seed)")
    axes[2].axhline(0.0, color="grey", lw=0.8)
    axes[3].set_ylabel("eval loss (log scale)")
    for ax in axes:
        ax.set_xlabel("optimizer steps")
        ax.grid(alpha=0.3)
    axes[3].set_xlabel("compute: steps x whole-network passes per step")
    axes[0].set_yscale("log")
    axes[3].set_yscale("log")
    axes[1].legend(fontsize=7)
    n = len(result["seeds"])
    title = f"{result['title']}: mean and +/-1 std over {n} seeds (dashed: the upstream head, more steps)"
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_calibration(result: dict[str, Any], path: Path) -> Path:
    """ECE, NLL, Brier and AURC (mean +/- std over seeds) against the evaluation cost relative to one deterministic
    evaluation (log scale): the frontier. The MSD model's Monte-Carlo depths are joined in order (the dial)."""
    methods = result["methods"]
    dial = [n for n in ("msd", "msd_mc0_8", "msd_mc1_8", "msd_mc2_8", "msd_mcall_8") if n in methods]
    fig, axes = plt.subplots(1, 4, figsize=(15, 4.2))
    markers = "osD^v<>ph*"
    for ax, key in zip(axes, ("ece", "nll", "brier", "aurc"), strict=True):
        ax.plot(
            [methods[n]["cost"]["ratio_median"] for n in dial], [methods[n][key]["mean"] for n in dial],
            color="grey", lw=0.8, ls="--", zorder=0,
        )  # fmt: skip
        for i, m in enumerate(methods.values()):
            ax.errorbar(
                m["cost"]["ratio_median"], m[key]["mean"], yerr=m[key]["std"], fmt=markers[i % len(markers)],
                color=f"C{i}", label=m["label"], capsize=2, ms=5,
            )  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_xlabel("eval time / one deterministic eval")
        ax.set_title(f"{key.upper()} (lower is better)", fontsize=9)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=7, frameon=False)
    n = len(result["seeds"])
    fig.suptitle(f"{result['title']}: report half, mean and +/-1 std over {n} seeds", fontsize=10)
    return _save(fig, path, rect=(0, 0.12, 1, 1))


def plot_convergence_vision(result: dict[str, Any], path: Path) -> Path:
    """The paper's figure, one row per architecture: the training loss, the eval loss and the eval error against the
    optimizer steps (mean over seeds, shaded from the lowest to the highest seed)."""
    archs = result["architectures"]
    fig, axes = plt.subplots(len(archs), 3, figsize=(15, 3.6 * len(archs)), squeeze=False)
    for row, res in zip(axes, archs.values(), strict=True):
        for i, (name, v) in enumerate(res["variants"].items()):
            runs = list(v["per_seed"].values())
            curves = (
                (row[0], v["steps"][1:], [r["train_loss"] for r in runs]),
                (row[1], v["steps"], [r["eval_loss"] for r in runs]),
                (row[2], v["steps"], [[1 - a for a in r["eval_accuracy"]] for r in runs]),
            )
            for ax, steps, per_seed in curves:
                cols = list(zip(*per_seed, strict=True))
                ax.plot(steps, [sum(c) / len(c) for c in cols], color=f"C{i}", label=name, lw=1.4)
                ax.fill_between(steps, [min(c) for c in cols], [max(c) for c in cols], color=f"C{i}", alpha=0.15, lw=0)
        for ax, label in zip(row, ("training loss", "eval loss", "eval error"), strict=True):
            ax.set_title(f"{res['model']} ({res['parameters']:,} parameters): {label}", fontsize=9)
            ax.set_xlabel("optimizer steps")
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
        row[0].legend(fontsize=8)
    n = len(result["seeds"])
    fig.suptitle(f"{result['title']}: mean over {n} seeds, shaded min to max (log scale)", fontsize=10)
    return _save(fig, path)
