"""The README's Python examples run as written, in order, in one namespace (offline: they load the MiniLM-L6 that the
`train` extra installs). The example that registers a family of one's own ("Adding an architecture") runs in
`tests/test_registration.py::test_readme_example_runs_as_written`, on a family that test defines."""

from pathlib import Path

import torch
from conftest import readme_python_blocks


def test_readme_python_examples_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write `out*` folders
    blocks = [block for block in readme_python_blocks() if "from my_models import" not in block]
    assert len(blocks) == 7  # use, the pieces, every head, images, LoRA, MSDTrainer, uncertainty
    namespace: dict = {}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as err:  # noqa: BLE001  (the block that failed, with its text)
            raise AssertionError(f"README.md python block {i + 1} failed: {err!r}\n{block}") from err
    # What the examples say they give.
    assert namespace["logits"].shape == (8, 4, 2) and namespace["samples"].shape == (8, 4, 384)
    assert namespace["out"].sample_logits.shape[0] == 8 and type(namespace["model"]).__name__.startswith("MSDBert")
    assert type(namespace["upstream"]).__name__ == "BertForSequenceClassification"
    assert namespace["images"].sample_logits.shape == (8, 4, 10)
    assert namespace["u"].probs.shape == (2, 2) and torch.all(namespace["u"].mutual_information >= 0)
    t = namespace["t"]  # word-level token uncertainty: two words, the special tokens left out
    assert t.word_entropy.shape == (1, 2) and not t.word_entropy.isnan().any()
    assert t.entropy[0, [0, 2, 4]].isnan().all() and t.entropy_max[0] == t.word_entropy[0].max()


def test_readme_stays_a_short_read():
    """The README keeps to a five-minute read: at most 475 lines (the family tables live in
    `msd_transformers/architectures.md`, the benchmark tables in `benchmarks/README.md`)."""
    lines = (Path(__file__).resolve().parents[1] / "README.md").read_text().splitlines()
    assert len(lines) <= 475, f"README.md has {len(lines)} lines; move detail to benchmarks/README.md or the docs"
