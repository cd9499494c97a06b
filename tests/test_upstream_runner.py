"""The runner of Transformers' own model tests (`scripts/run-upstream-tests.sh`, `tests/upstream/`): which classes and
configs it puts under test, how it compares the two runs, and that tests/README.md lists its skips. The upstream tests
themselves need the source distribution; they run through the script, not here."""

import importlib.util
import re
import sys
import types
from pathlib import Path

import pytest
import torch
import transformers

UPSTREAM = Path(__file__).resolve().parent / "upstream"
sys.path.insert(0, str(UPSTREAM))
import model_tests  # noqa: E402

_spec = importlib.util.spec_from_file_location("upstream_run", UPSTREAM / "run.py")
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

import msd_transformers as msd  # noqa: E402


def test_families_are_the_issue_s_families():
    assert list(model_tests.FAMILIES) == [
        "bert",
        "roberta",
        "deberta_v2",
        "modernbert",
        "llama",
        "qwen2",
        "gpt2",
        "bart",
    ]


@pytest.mark.parametrize("family", ["bert", "llama", "bart"])
def test_model_classes_pair_upstream_and_msd(family):
    upstream = model_tests.model_classes(family, "upstream")
    msd = model_tests.model_classes(family, "msd")
    assert upstream and len(upstream) == len(msd)
    for up, ours in zip(upstream, msd, strict=True):
        assert issubclass(ours, up) and ours.__name__ == f"MSD{up.__name__}"
        assert model_tests._upstream_of(ours) is up and model_tests._upstream_of(up) is up
    expected = {"bert": 4, "llama": 3, "bart": 2}[family]  # the tasks with an MSD class (registry)
    assert len(msd) == expected


def test_bad_impl_and_family_raise():
    with pytest.raises(ValueError, match="'vanilla'"):
        model_tests.model_classes("bert", "vanilla")
    with pytest.raises(ValueError, match="'t5'"):
        model_tests.make_test_case("t5", "msd", UPSTREAM)
    with pytest.raises(ValueError, match="test_modeling_common"):
        model_tests.load_common(UPSTREAM)


@pytest.mark.parametrize("family", ["bert", "llama"])
def test_tester_config_through_msd_config(family):
    """The MSD run's config is the family's tiny config made into its MSD config by `msd_config`, with `msd_dropout`
    set because the family's question-answering head has no dropout to take the rate from (`msd_config` refuses it
    without one); the upstream run's is the upstream config."""
    tester = model_tests.FamilyTester(None, family, "msd", common=None)
    config = tester.get_config()
    assert type(config).__name__ == f"MSD{tester.config_class.__name__}"
    assert config.msd_dropout == model_tests.MSD_DROPOUT
    assert config.num_hidden_layers == 2 and config.hidden_size == 32
    with pytest.raises(ValueError, match="msd_dropout must be set"):
        msd.msd_config(tester.config_class(**tester.config_kwargs), task="question-answering")
    assert type(model_tests.FamilyTester(None, family, "upstream", common=None).get_config()) is tester.config_class


def _report(path: Path, cases: dict[str, str]) -> Path:
    body = {"passed": "", "failed": '<failure message="x"/>', "skipped": '<skipped message="y"/>'}
    xml = "".join(f'<testcase classname="c" name="{name}">{body[o]}</testcase>' for name, o in cases.items())
    path.write_text(f"<testsuites><testsuite>{xml}</testsuite></testsuites>")
    return path


def test_table_lists_what_passes_upstream_only(tmp_path, monkeypatch):
    """Failed for MSD, or skipped for MSD by upstream's own logic, where upstream passes: listed; skipped by design
    (`MSD_SKIPS`), or failing on both: not."""
    monkeypatch.setattr(runner, "MSD_SKIPS", {("bert", "test_by_design"): "reason", ("llama", "test_c"): "other"})
    names = ["test_a", "test_b", "test_c", "test_d", "test_by_design"]
    up = ["passed", "passed", "passed", "failed", "passed"]
    ours = ["passed", "failed", "skipped", "failed", "skipped"]
    upstream = runner.outcomes(_report(tmp_path / "u.xml", dict(zip(names, up, strict=True))))
    msd = runner.outcomes(_report(tmp_path / "m.xml", dict(zip(names, ours, strict=True))))
    text, broken = runner.table("bert", {"upstream": upstream, "msd": msd}, {"upstream": 1.0, "msd": 2.0})
    assert broken == ["test_b", "test_c"]
    assert re.search(r"upstream\s+4\s+1\s+0", text) and re.search(r"msd\s+1\s+2\s+2", text)
    assert "pass upstream, not for MSD: test_b, test_c" in text
    assert "by design (tests/README.md): test_by_design" in text
    assert transformers.__version__ in text


def test_outcomes_error_in_teardown_counts_as_failed(tmp_path):
    path = tmp_path / "r.xml"
    path.write_text(
        '<testsuites><testsuite><testcase name="test_a"/><testcase name="test_a"><error message="e"/></testcase>'
        '<testcase name="test_b"><error message="e"/></testcase><testcase name="test_b"/></testsuite></testsuites>'
    )
    assert runner.outcomes(path) == {"test_a": "failed", "test_b": "failed"}


def test_unknown_family_is_refused(capsys):
    with pytest.raises(SystemExit):
        runner.main(["bert", "t5"])
    assert "'t5'" in capsys.readouterr().err


def test_readme_table_lists_every_skip_with_its_reason():
    """tests/README.md's table of the tests skipped for MSD is `MSD_SKIPS`, row for row."""
    text = (Path(__file__).resolve().parent / "README.md").read_text()
    rows = re.findall(r"^\| (\w+) \| `(test_\w+)` \| (.+?) \|$", text, flags=re.MULTILINE)
    assert {(family, test): reason for family, test, reason in rows} == model_tests.MSD_SKIPS
    assert len(rows) == len(model_tests.MSD_SKIPS)


def test_bart_outputs_have_upstream_fields():
    """The reason of the BART skip holds: in eval, with attentions, the MSD classes' outputs have upstream's fields
    and values (upstream's test miscounts them by class name only)."""
    common = types.SimpleNamespace(
        ids_tensor=lambda shape, vocab: torch.randint(0, vocab, shape),
        random_attention_mask=lambda shape: torch.ones(shape, dtype=torch.long),
    )
    torch.manual_seed(0)
    _, inputs = model_tests.FamilyTester(None, "bart", "upstream", common).prepare_config_and_inputs_for_common()
    for upstream_class, msd_class in zip(
        model_tests.model_classes("bart", "upstream"), model_tests.model_classes("bart", "msd"), strict=True
    ):
        tester = model_tests.FamilyTester(None, "bart", "msd", common)
        torch.manual_seed(0)
        ours = msd_class._from_config(tester.get_config(), attn_implementation="eager").eval()
        theirs = upstream_class._from_config(tester.config_class(**tester.config_kwargs), attn_implementation="eager")
        theirs.load_state_dict(ours.state_dict())
        with torch.no_grad():
            a = ours(**inputs, output_attentions=True)
            b = theirs.eval()(**inputs, output_attentions=True)
        assert list(a.keys()) == list(b.keys())
        for key in ("start_logits", "logits", "encoder_attentions"):
            if key in b:
                torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)


def test_msd_run_dates_the_family_as_upstream_does():
    """`test_can_init_all_missing_weights` runs for families added from 2023 on (by the copyright year of the config's
    source file); the MSD run takes the upstream family's year, as its generated config's file has none."""
    assert model_tests._added_since_2023("ModernBertConfig") and model_tests._added_since_2023("Qwen2Config")
    assert not model_tests._added_since_2023("BertConfig") and not model_tests._added_since_2023("LlamaConfig")
