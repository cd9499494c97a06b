"""Formatting shared by the report's sections: variant labels, mean ± std, what produced a result."""

from __future__ import annotations

from typing import Any

VARIANT_LABELS = {
    "plain": "plain dropout (upstream head)",
    "msd8": "MSD K=8, rate 0.1",
    "msd8_linspace": "MSD K=8, linspace(0.1, 0.5)",
    "msd8_logits": "MSD K=8, logit averaging",
    "whole8": "whole network M=8 (batched)",
    "rdrop": "R-Drop (upstream head, M=2 passes + consistency)",
    "msd8_consistency": "MSD K=8, rate 0.1 + head-only consistency",
    "fp5": "Feedback Prize recipe (MSD K=5, linspace(0.1, 0.5))",
    "whole2": "whole network M=2 (batched)",
    "plain_2x": "plain, 2x the steps",
    "plain_8x": "plain, 8x the steps",
    "loop8": "loop recipe K=8",
    "whole8_batched": "whole network M=8, batched",
    "whole8_chunk2": "whole network M=8, batched in chunks of 2 passes",
    "whole8_sequential": "whole network M=8, sequential (8 fwd/bwd)",
}


def pm(d: dict[str, float], digits: int = 3, pct: bool = False) -> str:
    """`mean ± std` of `d`, with `digits` decimals, or in percent."""
    if pct:
        return f"{100 * d['mean']:.1f} ± {100 * d['std']:.1f}"
    return f"{d['mean']:.{digits}f} ± {d['std']:.{digits}f}"


def machine_line(env: dict[str, Any]) -> str:
    """The machine and software of a result: CPU, cores, torch threads, GPU, versions, device and dtype."""
    gpu = env["gpu"]["name"] if env.get("gpu") else "no GPU"
    return (
        f"{env['cpu_model']}, {env['cpu_cores']} cores ({env['torch_threads']} torch thread(s)), {gpu}; "
        f"Python {env['python']}, torch {env['torch']}, transformers {env['transformers']}; "
        f"device {env['device']}, {env['dtype']}"
    )


def environment_line(env: dict[str, Any]) -> str:
    """What produced a result: the command, the library commit, the machine and the software, the date."""
    return (
        f"`{env['command']}` at commit {env.get('git_commit') or 'not recorded'}; {machine_line(env)}; "
        f"{env['date'][:10]}"
    )
