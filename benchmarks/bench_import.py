"""Import cost: `python -c "import msd_transformers"` against the imports every Transformers fine-tuning script makes.

    baseline: import torch, transformers; from transformers import AutoModelForSequenceClassification, Trainer
    package:  import msd_transformers
    package_trainer: import msd_transformers as msd; msd.MSDTrainer

Each round runs both commands as fresh processes, in a shuffled order, after warm-up rounds (the operating system's
file cache); the ratio is the median over rounds of the per-round ratio package / baseline. Importing the package
registers every supported family with the Auto classes without importing an upstream configuration or modeling
module (the classes are made when first used), which is what keeps it cheap.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from typing import Any

from bench_common import median

COMMANDS: dict[str, str] = {
    "baseline": "import torch, transformers; from transformers import AutoModelForSequenceClassification, Trainer",
    "package": "import msd_transformers",
    # the package and its Trainer (which imports Transformers' Trainer): what a training script pays
    "package_trainer": "import msd_transformers as msd; msd.MSDTrainer",
}


def _seconds(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - start


def run_import(args: Any) -> dict[str, Any]:
    """Time both commands in `rounds` interleaved rounds (3 with `--quick`, else 15) after 2 warm-up rounds."""
    rounds = 3 if args.quick else 15
    for _ in range(2):
        for code in COMMANDS.values():
            _seconds(code)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    rng = random.Random(0)
    for _ in range(rounds):
        order = list(COMMANDS)
        rng.shuffle(order)
        for name in order:
            times[name].append(_seconds(COMMANDS[name]))
    ratios, trainer_ratios = (
        sorted(p / b for p, b in zip(times[name], times["baseline"], strict=True))
        for name in ("package", "package_trainer")
    )
    return {
        "benchmark": "import",
        "commands": COMMANDS,
        "rounds": rounds,
        "seconds": times,
        "median_seconds": {name: median(values) for name, values in times.items()},
        "ratio_median": median(ratios),
        "ratio_quartiles": [ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]],
        "trainer_ratio_median": median(trainer_ratios),
    }
