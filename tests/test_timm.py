"""`timm_wrapper` (TimmWrapperForImageClassification) on three of timm's own tiny test architectures, one per form of
timm head dropout, built offline (`pretrained=False`): the samples go through `timm_model.get_classifier()` in place
of the dropout feeding it.

The family's contracts (eval equal to upstream, each sample's loss upstream's, checkpoints both ways, to_vanilla) run
through tests/test_media.py's check on ViT and ConvNeXt here (its ResNet runs in tests/test_media.py with the other
image families); then the rate rules, the refused heads, Monte-Carlo dropout, an MSDTrainer step and the LoRA head
modules. Needs the optional `timm` extra: the module is skipped, with the reason, where timm is not importable.
"""

import pytest
import torch
from conftest import trainer_args
from test_media import BATCH, NUM_LABELS, check_matches_upstream, media_dataset
from tiny_media import lively, media_inputs, timm_missing
from transformers import AutoConfig, TimmWrapperForImageClassification

import msd_transformers as msd
from msd_transformers.architectures import IMAGE_CLASSIFICATION

if timm_missing():
    pytest.skip(timm_missing(), allow_module_level=True)

# (timm architecture, its smallest model_args, the classifier and dropout paths the MSD class resolves)
HEADS = {
    # pool -> fc_norm -> head_drop (nn.Dropout) -> head
    "test_vit": ({"depth": 2}, "timm_model.head", "timm_model.head_drop"),
    # head = NormMlpClassifierHead: global_pool -> norm -> flatten -> pre_logits -> drop (nn.Dropout) -> fc
    "test_convnext": ({}, "timm_model.head.fc", "timm_model.head.drop"),
    # global_pool -> F.dropout(x, p=self.drop_rate) in forward_head -> fc
    "test_resnet": ({}, "timm_model.fc", None),
}


def timm_config(architecture, drop_rate=0.1, **model_args):
    args = {**HEADS[architecture][0], **model_args}
    if drop_rate is not None:
        args["drop_rate"] = drop_rate
    return AutoConfig.for_model("timm_wrapper", architecture=architecture, model_args=args, num_labels=NUM_LABELS)


@pytest.mark.parametrize("architecture", ["test_vit", "test_convnext"])
def test_timm_head_matches_upstream(architecture, tmp_path):
    check_matches_upstream(IMAGE_CLASSIFICATION, "timm_wrapper", timm_config(architecture), tmp_path)


@pytest.mark.parametrize("architecture", list(HEADS))
def test_timm_head_paths_and_rate(architecture):
    """The resolved row names the timm architecture's classifier (now the MultiSampleLinear, under its upstream
    name) and the dropout feeding it (now the identity); the head's rate is the default, and the functional form's
    `drop_rate` is 0 in the MSD model only."""
    _, classifier, dropout = HEADS[architecture]
    model = msd.AutoMSDModelForImageClassification.from_config(timm_config(architecture, 0.3), msd_num_samples=3)
    arch = model.msd_architecture
    assert (arch.classifier, arch.dropout) == (classifier, dropout)
    assert model.msd is model.get_submodule(classifier) and model.msd.rates == (0.3,) * 3
    assert model.msd is model.timm_model.get_classifier()
    if dropout is not None:
        assert isinstance(model.get_submodule(dropout), torch.nn.Identity)
    else:
        assert model.timm_model.drop_rate == 0.0 and msd.to_vanilla(model).timm_model.drop_rate == 0.3
    assert type(model).msd_architecture.classifier == "timm_model"  # the class's row stays unresolved


@pytest.mark.parametrize("architecture", list(HEADS))
def test_timm_head_dropout_is_replaced(architecture):
    """In training, with the samples at rate 0, the MSD logits are those of the upstream model whose head dropout is
    off (`drop_rate` 0, same weights): the timm head's own dropout (0.5 here) no longer runs, in any of its forms."""
    model = msd.AutoMSDModelForImageClassification.from_config(
        timm_config(architecture, 0.5), msd_dropout=0.0, msd_num_samples=2
    )
    model = lively(model).train()
    plain = TimmWrapperForImageClassification(timm_config(architecture, 0.0)).train()
    plain.load_state_dict(model.state_dict())
    inputs = media_inputs(IMAGE_CLASSIFICATION, "timm_wrapper", model.config, batch_size=BATCH)
    with torch.no_grad():
        samples, expected = model(**inputs).sample_logits, plain(**inputs).logits
    assert expected.std() > 0.1
    torch.testing.assert_close(samples, expected.expand(2, -1, -1), atol=1e-6, rtol=1e-6)


def test_timm_rate_0_needs_msd_dropout():
    """timm's default head dropout rate is 0: `msd_dropout` is then required, a ValueError naming it and the timm
    architecture, from `msd_config(..., task=...)` and from the model class alike."""
    config = timm_config("test_vit", drop_rate=None)
    for make in (
        lambda: msd.msd_config(config, task=IMAGE_CLASSIFICATION),
        lambda: msd.AutoMSDModelForImageClassification.from_config(config),
        lambda: msd.AutoMSDModelForImageClassification.from_config(timm_config("test_resnet", drop_rate=0.0)),
    ):
        with pytest.raises(ValueError, match=r"msd_dropout must be set for 'timm_wrapper'.*'test_(vit|resnet)'"):
            make()
    model = msd.AutoMSDModelForImageClassification.from_config(config, msd_dropout=0.2)
    assert model.msd.rates == (0.2,) * 8


@pytest.mark.parametrize(
    "architecture, model_args, reason",
    [
        ("deit_tiny_distilled_patch16_224", {"depth": 1}, "is a tuple, not a torch.nn.Linear"),  # head, head_dist
        ("dla46_c", {}, "is a Conv2d, not a torch.nn.Linear"),  # a 1 x 1 convolution on the pooled map
        ("volo_d1_224", {}, "head dropout `head_drop` is called 2 times"),  # it also drops the auxiliary head's input
    ],
)
def test_timm_heads_without_one_linear_are_refused(architecture, model_args, reason):
    """One clear error naming the timm architecture (the models built on the meta device: no memory)."""
    config = AutoConfig.for_model("timm_wrapper", architecture=architecture, model_args=model_args, num_labels=3)
    with torch.device("meta"), pytest.raises(ValueError, match=rf"timm architecture '{architecture}'.*{reason}"):
        msd.AutoMSDModelForImageClassification.from_config(config, msd_dropout=0.1)


def test_timm_mc_dropout_head_samples():
    """`mc_dropout` at `layers=0` on a timm ViT: the head's samples differ, `logits` stays the eval output."""
    model = lively(msd.AutoMSDModelForImageClassification.from_config(timm_config("test_vit"), msd_dropout=0.5))
    inputs = media_inputs(IMAGE_CLASSIFICATION, "timm_wrapper", model.config, batch_size=BATCH)
    with torch.no_grad():
        expected = model.eval()(**inputs).logits
        with msd.mc_dropout(model, num_samples=3, layers=0):
            out = model(**inputs)
    assert out.sample_logits.shape == (3, BATCH, NUM_LABELS)
    torch.testing.assert_close(out.logits, expected)
    assert not torch.allclose(out.sample_logits[0], out.sample_logits[1])


def test_timm_trainer_step(tmp_path):
    """One MSDTrainer step on a timm ViT moves the classifier (the MultiSampleLinear) and the backbone."""
    config = timm_config("test_vit")
    model = msd.AutoMSDModelForImageClassification.from_config(config, msd_num_samples=4)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    args = trainer_args(tmp_path, learning_rate=1e-2)
    trainer = msd.MSDTrainer(model=model, args=args, train_dataset=media_dataset(IMAGE_CLASSIFICATION, "vit", config))
    result = trainer.train()
    assert result.global_step == 1 and torch.isfinite(torch.tensor(result.training_loss))
    after = model.state_dict()
    for key in ("timm_model.head.weight", "timm_model.blocks.0.attn.qkv.weight"):
        assert (after[key] - before[key]).abs().max() > 1e-4, key


def test_timm_lora_modules_to_save():
    """The classifier's path, per timm architecture, for `LoraConfig(modules_to_save=...)`."""
    for architecture, (_, classifier, _) in HEADS.items():
        config = msd.msd_config(timm_config(architecture), msd_dropout=0.1)
        assert msd.lora_modules_to_save(config, IMAGE_CLASSIFICATION) == [classifier]
