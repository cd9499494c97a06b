"""Every image, audio and video classification family against its upstream class, on tiny configs built here.

One test per (task, family) builds one tiny upstream model and checks:

- its checkpoint loads into the MSD class (`AutoMSDModelFor<Task>.from_pretrained`) and the MSD checkpoint into the
  upstream class with no missing or unexpected keys, and `msd.to_vanilla` gives the upstream class;
- in eval, for every problem type the family's upstream loss supports (regression, single- and multi-label where it
  uses the sequence classifiers' rules; single-label cross-entropy for the wav2vec2 family and Whisper), the logits,
  the loss and the other output fields equal the upstream class's to 1e-6;
- in training, `sample_logits` is `(K, B, C)`, the samples differ, `logits` is their mean, and the loss is the mean
  over the samples of the upstream class's own loss on each sample (its forward run with the classifier's output
  replaced by that sample's logits);
- upstream, the row's dropout feeds the row's Linear; where the row has none, no dropout does (and `msd_dropout` is
  required, a `ValueError` naming it).

`timm_wrapper` (the optional `timm` extra; skipped with the reason when timm is not importable) runs timm's
`test_resnet` here, its head's paths resolved from the timm model (tests/test_timm.py: two more timm heads).

Then: the image and audio pipelines give the upstream results.
"""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import trainer_args
from datasets import Dataset
from PIL import Image
from safetensors.torch import load_file
from tiny_media import TINY_MEDIA, lively, media_inputs, timm_missing, tiny_media_config
from transformers import ViTImageProcessor, Wav2Vec2FeatureExtractor, pipeline

import msd_transformers as msd
from msd_transformers import MultiSampleLinear
from msd_transformers.architectures import AUDIO_CLASSIFICATION, IMAGE_CLASSIFICATION, VIDEO_CLASSIFICATION
from msd_transformers.heads import resolve_timm_head, timm_drop_rate

MEDIA_TASKS = (IMAGE_CLASSIFICATION, AUDIO_CLASSIFICATION, VIDEO_CLASSIFICATION)
AUTO = {
    IMAGE_CLASSIFICATION: msd.AutoMSDModelForImageClassification,
    AUDIO_CLASSIFICATION: msd.AutoMSDModelForAudioClassification,
    VIDEO_CLASSIFICATION: msd.AutoMSDModelForVideoClassification,
}
K, BATCH, NUM_LABELS = 4, 4, 3
TIMM_MISSING = timm_missing()
NEEDS_TIMM = pytest.mark.skipif(TIMM_MISSING is not None, reason=str(TIMM_MISSING))


def case(task, model_type):
    """A `(task, model_type)` parameter, skipped (with the reason) for `timm_wrapper` where timm is not importable."""
    return pytest.param(task, model_type, id=f"{task}-{model_type}", marks=NEEDS_TIMM if "timm" in model_type else ())


CASES = [case(task, model_type) for task in MEDIA_TASKS for model_type in msd.supported_model_types(task)]
# Upstream audio heads whose loss is `CrossEntropyLoss()` whatever `problem_type`.
CROSS_ENTROPY_ONLY = {
    "data2vec-audio", "hubert", "sew", "sew-d", "unispeech", "unispeech-sat", "wav2vec2", "wav2vec2-bert",
    "wav2vec2-conformer", "wavlm", "whisper",
}  # fmt: skip


def problem_cases(model_type):
    """`(problem_type, labels)` of every problem type the family's upstream loss supports (`None`: inferred from
    integer labels, single-label)."""
    g = torch.Generator().manual_seed(3)
    single = (None, torch.tensor([0, 2, 1, 2]))
    if model_type in CROSS_ENTROPY_ONLY:  # cross-entropy on the class ids, also with another problem type set
        return [single, ("multi_label_classification", single[1])]
    return [
        single,
        ("multi_label_classification", torch.randint(0, 2, (BATCH, NUM_LABELS), generator=g).float()),
        ("regression", torch.randn(BATCH, NUM_LABELS, generator=g)),
    ]


def upstream_sample_loss(upstream, arch, inputs, labels, logits):
    """The upstream class's own loss for `logits` `(B, C)`: its forward with the row's Linear answering `logits`."""
    hook = upstream.get_submodule(arch.classifier).register_forward_hook(lambda m, a, out: logits)
    try:
        with torch.no_grad():
            return upstream(**inputs, labels=labels).loss
    finally:
        hook.remove()


@pytest.mark.parametrize("task, model_type", CASES)
def test_family_matches_upstream(task, model_type, tmp_path):
    config = tiny_media_config(task, model_type, dropout=0.1, num_labels=NUM_LABELS)
    check_matches_upstream(task, model_type, config, tmp_path)


def check_matches_upstream(task, model_type, config, tmp_path):
    """The contracts of the module docstring for one family and config (backbone dropouts at 0.1)."""
    family = msd.get_architecture(model_type, task)
    torch.manual_seed(0)
    upstream = lively(family.model_class(config)).eval()
    # the row's paths in this model (a wrapped timm model's head: its architecture's own), and the default rate
    arch = resolve_timm_head(upstream, family)[0] if family.resolve_head else family
    head_rate = timm_drop_rate(config) if family.resolve_head else None
    inputs = media_inputs(task, model_type, config, batch_size=BATCH)
    with torch.no_grad():  # logits of std 1: the samples, and the losses, differ well above the tolerances
        upstream.get_submodule(arch.classifier).weight.div_(upstream(**inputs).logits.std())
    rate = {} if arch.dropout is not None or head_rate else {"msd_dropout": 0.5}
    if rate:  # no dropout before the Linear upstream (or one at rate 0 in a timm head): no rate to default to
        with pytest.raises(ValueError, match="msd_dropout must be set"):
            AUTO[task].from_config(config)

    # Checkpoints both ways, no missing or unexpected keys.
    upstream.save_pretrained(tmp_path / "upstream")
    model, info = AUTO[task].from_pretrained(
        tmp_path / "upstream", msd_num_samples=K, output_loading_info=True, **rate
    )
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    assert type(model).__name__ == f"MSD{arch.model_class.__name__}" and isinstance(model.msd, MultiSampleLinear)
    assert model.msd_architecture == arch and model.msd is model.get_submodule(arch.classifier)
    if arch.dropout is not None:  # the upstream rate is the default
        assert model.msd.rates == (upstream.get_submodule(arch.dropout).p,) * K
    elif head_rate:  # a timm head's F.dropout at drop_rate
        assert model.msd.rates == (head_rate,) * K
    model.save_pretrained(tmp_path / "msd")
    back, info = arch.model_class.from_pretrained(tmp_path / "msd", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    assert type(msd.to_vanilla(model)) is arch.model_class

    cases = problem_cases(model_type)
    for problem_type, labels in cases:  # Eval (before any training forward moves BatchNorm statistics)
        for m in (upstream, model, back):
            m.config.problem_type = problem_type
        model.eval(), back.eval()
        with torch.no_grad():
            expected = upstream(**inputs, labels=labels, output_hidden_states=True)
            for other in (model, back):
                out = other(**inputs, labels=labels, output_hidden_states=True)
                # ImageGPT's key/value cache, which the MSD forward does not build when given labels, aside
                assert set(out.keys()) - {"cache"} == set(expected.keys()) - {"cache"}, (out.keys(), expected.keys())
                torch.testing.assert_close(out.logits, expected.logits, atol=1e-6, rtol=0)
                torch.testing.assert_close(out.loss, expected.loss, atol=1e-6, rtol=1e-6)
                torch.testing.assert_close(out.hidden_states, expected.hidden_states, atol=1e-6, rtol=1e-6)
        assert upstream.config.problem_type == model.config.problem_type  # inferred alike (or left unset)

    for problem_type, labels in cases:  # Training: K samples, their mean, the mean of upstream's per-sample losses
        for m in (upstream, model):
            m.config.problem_type = problem_type
        out = model.train()(**inputs, labels=labels)
        samples = out.sample_logits
        assert samples.shape == (K, BATCH, NUM_LABELS)
        torch.testing.assert_close(out.logits, samples.mean(0))
        assert not torch.allclose(samples[0], samples[1])
        per_sample = [upstream_sample_loss(upstream, arch, inputs, labels, samples[k].detach()) for k in range(K)]
        torch.testing.assert_close(out.loss, torch.stack(per_sample).mean(), atol=1e-6, rtol=1e-6)
    out.loss.backward()
    assert model.msd.weight.grad.abs().sum() > 0

    # Upstream: the row's dropout feeds the row's Linear; where the row has none, no dropout does.
    linear_inputs, dropped = [], []
    linear = upstream.get_submodule(arch.classifier)
    hooks = [linear.register_forward_pre_hook(lambda m, a: linear_inputs.append(a[0]))]
    for module in upstream.modules():
        if isinstance(module, torch.nn.Dropout):
            hooks.append(module.register_forward_hook(lambda m, a, out: dropped.append((m, out))))
    with torch.no_grad():
        upstream.train()(**inputs)
    for hook in hooks:
        hook.remove()
    assert len(linear_inputs) == 1
    feeding = [m for m, out in dropped if out is linear_inputs[0]]
    assert feeding == ([upstream.get_submodule(arch.dropout)] if arch.dropout is not None else [])


def test_media_families_have_tiny_configs():
    """Every supported family is tested above: a new family needs a tiny config in tests/tiny_media.py."""
    for task in MEDIA_TASKS:
        assert set(msd.supported_model_types(task)) == set(TINY_MEDIA[task])


def test_audio_class_names_do_not_collide_with_text():
    """The wav2vec2 family's audio classes are `*ForSequenceClassification` upstream: they belong to the audio task,
    and the text task does not claim the family."""
    assert "wav2vec2" not in msd.supported_model_types("sequence-classification")
    cls = msd.MSDWav2Vec2ForSequenceClassification
    assert cls.msd_task.name == AUDIO_CLASSIFICATION
    assert cls is msd.registry.msd_model_class("wav2vec2", AUDIO_CLASSIFICATION)
    assert msd.MSDWhisperForAudioClassification.msd_task.name == AUDIO_CLASSIFICATION
    assert msd.MSDViTForImageClassification.msd_task.name == IMAGE_CLASSIFICATION


# ----------------------------------------------------------------------------------------------- pipelines
@pytest.mark.parametrize(
    "model_type", ["vit", "resnet", "mobilenet_v2", pytest.param("timm_wrapper", marks=NEEDS_TIMM)]
)
def test_image_classification_pipeline_as_upstream(model_type):
    labels = {0: "cat", 1: "dog", 2: "bird"}
    config = tiny_media_config(IMAGE_CLASSIFICATION, model_type, num_labels=3, id2label=labels,
                               label2id={v: k for k, v in labels.items()})  # fmt: skip
    model = msd.AutoMSDModelForImageClassification.from_config(config, msd_dropout=0.3).eval()
    processor = ViTImageProcessor(size={"height": 32, "width": 32}, do_rescale=True)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)) for _ in range(3)]
    results = {}
    for name, m in (("msd", model), ("upstream", msd.to_vanilla(model).eval())):
        classify = pipeline("image-classification", model=m, image_processor=processor, top_k=None)
        results[name] = classify(images)
    for ours, theirs in zip(results["msd"], results["upstream"], strict=True):
        assert [r["label"] for r in ours] == [r["label"] for r in theirs] and len(ours) == 3
        assert [r["score"] for r in ours] == pytest.approx([r["score"] for r in theirs], abs=1e-6)


@pytest.mark.parametrize("model_type", ["wav2vec2", "hubert"])
def test_audio_classification_pipeline_as_upstream(model_type):
    labels = {0: "yes", 1: "no", 2: "up"}
    config = tiny_media_config(AUDIO_CLASSIFICATION, model_type, num_labels=3, id2label=labels,
                               label2id={v: k for k, v in labels.items()})  # fmt: skip
    model = msd.AutoMSDModelForAudioClassification.from_config(config, msd_dropout=0.3).eval()
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, return_attention_mask=True)
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(n).astype(np.float32) for n in (1600, 2400)]
    results = {}
    for name, m in (("msd", model), ("upstream", msd.to_vanilla(model).eval())):
        classify = pipeline("audio-classification", model=m, feature_extractor=extractor, top_k=None)
        results[name] = [classify(w) for w in waves]
    for ours, theirs in zip(results["msd"], results["upstream"], strict=True):
        assert [r["label"] for r in ours] == [r["label"] for r in theirs] and len(ours) == 3
        assert [r["score"] for r in ours] == pytest.approx([r["score"] for r in theirs], abs=1e-6)


# ----------------------------------------------------------------------------------------------- Monte-Carlo dropout
LAYERS_K_ERRORS = "no stack of transformer layers|no backbone|cannot be sampled alone|Cannot find the transformer"
# The families whose top layers `layers=k` samples (the others raise one of LAYERS_K_ERRORS).
LAYERS_K = {
    "beit", "convnext", "convnextv2", "data2vec-vision", "deit", "dinov2", "dinov2_with_registers", "donut-swin",
    "ijepa", "segformer", "swin", "swinv2", "vit", "vit_msn", "audio-spectrogram-transformer", "data2vec-audio",
    "hubert", "sew", "sew-d", "unispeech", "unispeech-sat", "wav2vec2", "wav2vec2-bert", "wav2vec2-conformer",
    "timesformer", "videomae", "vivit", "vjepa2",
}  # fmt: skip


@pytest.mark.parametrize("task, model_type", CASES)
def test_mc_dropout_every_depth(task, model_type):
    """`mc_dropout` at `layers=0`, `1` and `"all"`: with every rate 0, each of the N samples is its own example's eval
    output (no repeat or cut of the rows mixes examples); `layers=1` raises one clear error where the family has no
    stack of layers to split. With the head's rate > 0, the head's samples differ and `logits` stays the eval one."""
    config = tiny_media_config(task, model_type, dropout=0.0, num_labels=NUM_LABELS)
    model = lively(AUTO[task].from_config(config, msd_dropout=0.0, msd_num_samples=2)).eval()
    inputs = media_inputs(task, model_type, config, batch_size=BATCH)
    with torch.no_grad():
        expected = model(**inputs).logits
        for layers in (0, 1, "all"):
            try:
                with msd.mc_dropout(model, num_samples=3, layers=layers):
                    out = model(**inputs)
            except ValueError as err:
                assert layers == 1 and model_type not in LAYERS_K and re.search(LAYERS_K_ERRORS, str(err)), err
                continue
            assert out.sample_logits.shape == (3, BATCH, NUM_LABELS)
            assert layers != 1 or model_type in LAYERS_K
            torch.testing.assert_close(out.sample_logits, expected.expand(3, -1, -1), atol=1e-5, rtol=1e-5)
        model.msd.rates = (0.5, 0.5)
        with msd.mc_dropout(model, num_samples=3, layers=0):
            out = model(**inputs)
    torch.testing.assert_close(out.logits, expected)
    assert not torch.allclose(out.sample_logits[0], out.sample_logits[1])


def test_mc_dropout_top_layers_sample(tmp_path):
    """`layers=1` on ViT samples the top layer's dropout too: with the head's rate 0, the samples still differ."""
    config = tiny_media_config(IMAGE_CLASSIFICATION, "vit", dropout=0.3, num_labels=NUM_LABELS)
    model = msd.AutoMSDModelForImageClassification.from_config(config, msd_dropout=0.0).eval()
    inputs = media_inputs(IMAGE_CLASSIFICATION, "vit", config)
    with torch.no_grad(), msd.mc_dropout(model, num_samples=3, layers=1):
        samples = model(**inputs).sample_logits
    assert not torch.allclose(samples[0], samples[1])
    u = msd.predictive_uncertainty(samples, "single_label_classification")
    assert u.mutual_information.shape == (BATCH,) and (u.mutual_information > 0).all()


# ----------------------------------------------------------------------------------------------- MSDTrainer
def media_dataset(task, model_type, config, n=8):
    inputs = media_inputs(task, model_type, config, batch_size=n)
    labels = torch.arange(n) % NUM_LABELS
    return Dataset.from_dict({**{k: v.tolist() for k, v in inputs.items()}, "labels": labels.tolist()})


@pytest.mark.parametrize("task, model_type", [(IMAGE_CLASSIFICATION, "vit"), (AUDIO_CLASSIFICATION, "wav2vec2")])
def test_trainer_accumulation_is_exact(task, model_type, tmp_path):
    """One MSDTrainer step with two forward passes, the consistency term and label smoothing: 2 x 4 accumulation
    moves the weights as one batch of 8 (dropout off). (Class weights make each micro-batch's loss a weighted mean,
    as documented in `MSDTrainer`: not exact by construction; their loss is checked below.)"""
    config = tiny_media_config(task, model_type, dropout=0.0, num_labels=NUM_LABELS)
    options = dict(msd_forward_passes=2, msd_consistency=0.1, label_smoothing_factor=0.1)
    ds = media_dataset(task, model_type, config)
    torch.manual_seed(0)
    init = AUTO[task].from_config(config, msd_dropout=0.0, msd_num_samples=2).state_dict()
    weights = []
    for name, batch, steps in (("full", 8, 1), ("accumulated", 4, 2)):
        model = AUTO[task].from_config(config, msd_dropout=0.0, msd_num_samples=2)
        model.load_state_dict(init)
        args = trainer_args(
            tmp_path / name, per_device_train_batch_size=batch, gradient_accumulation_steps=steps, **options
        )
        msd.MSDTrainer(model=model, args=args, train_dataset=ds).train()
        weights.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    assert max((weights[0][k] - init[k]).abs().max() for k in init) > 1e-3  # the step did something
    for key in init:
        torch.testing.assert_close(weights[0][key], weights[1][key], atol=1e-6, rtol=1e-5, msg=key)


@pytest.mark.parametrize(
    "task, model_type",
    [
        case(IMAGE_CLASSIFICATION, "resnet"),
        case(AUDIO_CLASSIFICATION, "hubert"),
        case(IMAGE_CLASSIFICATION, "timm_wrapper"),
    ],
)
def test_trainer_loss_is_the_direct_computation(task, model_type, tmp_path):
    """The MSDTrainer loss on image and audio batches: the mean over the samples of the weighted, smoothed
    cross-entropy, computed here; the wav2vec2 family's loss stays cross-entropy with multi-label `problem_type`."""
    config = tiny_media_config(task, model_type, num_labels=NUM_LABELS)
    model = lively(AUTO[task].from_config(config, msd_dropout=0.5, msd_num_samples=K)).train()
    weights = torch.tensor([1.0, 2.0, 0.5])
    args = trainer_args(tmp_path, msd_class_weights=weights.tolist(), label_smoothing_factor=0.1)
    trainer = msd.MSDTrainer(model=model, args=args, train_dataset=media_dataset(task, model_type, config))
    inputs = media_inputs(task, model_type, config, batch_size=BATCH)
    labels = torch.tensor([0, 2, 1, 2])
    torch.manual_seed(5)
    loss = trainer.compute_loss(model, {**inputs, "labels": labels})
    torch.manual_seed(5)
    samples = model(**inputs).sample_logits
    direct = torch.stack([F.cross_entropy(s, labels, weight=weights, label_smoothing=0.1) for s in samples]).mean()
    torch.testing.assert_close(loss, direct, atol=1e-6, rtol=1e-6)


# ----------------------------------------------------------------------------------------------- LoRA
def test_lora_on_an_image_model(tmp_path):
    """LoRA on ViT with PEFT's default targets and the head kept trainable: the adapter trains the head's samples, and
    a convolutional family (ResNet) gets one clear error (nothing to target)."""
    from peft import LoraConfig, get_peft_model

    config = tiny_media_config(IMAGE_CLASSIFICATION, "vit", num_labels=NUM_LABELS)
    model = msd.AutoMSDModelForImageClassification.from_config(config, msd_dropout=0.3, msd_num_samples=K)
    targets = msd.lora_target_modules(model.config)
    assert targets == "all-linear"  # PEFT has no ViT default: every Linear but the head
    assert msd.lora_modules_to_save(model.config, IMAGE_CLASSIFICATION) == ["classifier"]
    lora = LoraConfig(r=4, target_modules=targets, modules_to_save=["classifier"])
    peft_model = get_peft_model(model, lora)
    inputs = media_inputs(IMAGE_CLASSIFICATION, "vit", config)
    out = peft_model.train()(**inputs, labels=torch.tensor([0, 1, 2, 0]))
    assert out.sample_logits.shape == (K, BATCH, NUM_LABELS)
    out.loss.backward()
    trained = {n for n, p in peft_model.named_parameters() if p.requires_grad and p.grad is not None}
    assert any("lora_A" in n for n in trained) and any("classifier" in n and "lora" not in n for n in trained)
    with pytest.raises(ValueError, match="'resnet' models have no Linear layer outside the head"):
        msd.lora_target_modules(msd.msd_config(tiny_media_config(IMAGE_CLASSIFICATION, "resnet"), msd_dropout=0.1))


def test_mc_dropout_image_pipeline():
    """The Monte-Carlo image pipeline: each image's score is the mean of its N samples' softmax probabilities (from
    `mc_dropout` on the same batch, same seed), with their entropy and mutual information."""
    labels = {0: "cat", 1: "dog", 2: "bird"}
    config = tiny_media_config(IMAGE_CLASSIFICATION, "vit", num_labels=3, id2label=labels,
                               label2id={v: k for k, v in labels.items()})  # fmt: skip
    model = lively(msd.AutoMSDModelForImageClassification.from_config(config, msd_dropout=0.5)).eval()
    processor = ViTImageProcessor(size={"height": 32, "width": 32})
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8))
    classify = pipeline(
        "image-classification", model=model, image_processor=processor,
        pipeline_class=msd.MCDropoutImageClassificationPipeline, num_samples=16,
    )  # fmt: skip
    torch.manual_seed(0)
    results = classify(image, top_k=3)
    torch.manual_seed(0)
    with torch.no_grad(), msd.mc_dropout(model, num_samples=16):
        samples = model(**processor(image, return_tensors="pt")).sample_logits  # (16, 1, 3)
    probs = samples.softmax(-1).mean(0)[0]
    u = msd.predictive_uncertainty(samples, "single_label_classification")
    assert [r["label"] for r in results] == [labels[i] for i in probs.argsort(descending=True).tolist()]
    for r in results:
        assert r["score"] == pytest.approx(probs[model.config.label2id[r["label"]]].item(), abs=1e-6)
        assert r["entropy"] == pytest.approx(u.entropy[0].item(), abs=1e-6)
        assert r["mutual_information"] == pytest.approx(u.mutual_information[0].item(), abs=1e-6)
    assert results[0]["mutual_information"] > 0


@pytest.mark.parametrize("problem_type", [None, "multi_label_classification"])
def test_mc_dropout_audio_pipeline(problem_type):
    """The Monte-Carlo audio pipeline: each waveform's score is the mean of its N samples' scores (softmax, or sigmoid
    for multi-label, as the upstream audio pipeline scores), from `mc_dropout` on the same input and seed, with their
    entropy and mutual information; every label by default, as upstream."""
    labels = {0: "yes", 1: "no", 2: "up"}
    config = tiny_media_config(AUDIO_CLASSIFICATION, "wav2vec2", num_labels=3, id2label=labels,
                               label2id={v: k for k, v in labels.items()}, problem_type=problem_type)  # fmt: skip
    model = lively(msd.AutoMSDModelForAudioClassification.from_config(config, msd_dropout=0.5)).eval()
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, return_attention_mask=True)
    wave = np.random.default_rng(0).standard_normal(2000).astype(np.float32)
    classify = pipeline(
        "audio-classification", model=model, feature_extractor=extractor,
        pipeline_class=msd.MCDropoutAudioClassificationPipeline, num_samples=16,
    )  # fmt: skip
    torch.manual_seed(0)
    results = classify(wave)
    torch.manual_seed(0)
    with torch.no_grad(), msd.mc_dropout(model, num_samples=16):
        samples = model(**extractor(wave, sampling_rate=16000, return_tensors="pt")).sample_logits  # (16, 1, 3)
    multi = problem_type == "multi_label_classification"
    scores = (samples.sigmoid() if multi else samples.softmax(-1)).mean(0)[0]
    u = msd.predictive_uncertainty(samples, "multi_label_classification" if multi else "single_label_classification")
    assert [r["label"] for r in results] == [labels[i] for i in scores.argsort(descending=True).tolist()]
    for r in results:
        i = model.config.label2id[r["label"]]
        assert r["score"] == pytest.approx(scores[i].item(), abs=1e-6)
        where = (0, i) if multi else 0  # per label (sigmoid) or per waveform (softmax)
        entropy, mi = u.entropy[where], u.mutual_information[where]
        assert r["entropy"] == pytest.approx(entropy.item(), abs=1e-6)
        assert r["mutual_information"] == pytest.approx(mi.item(), abs=1e-6)
    assert all(r["mutual_information"] > 0 for r in results)
    assert len(classify(wave, top_k=1)) == 1


def test_lora_on_an_audio_model(tmp_path):
    """LoRA on wav2vec2 (PEFT has no default targets: every Linear but the head) with the head kept trainable: the
    projector, which upstream builds for the head (no backbone checkpoint holds it), is trained and saved with the
    classifier's samples; the convolutional feature encoder stays frozen."""
    from peft import LoraConfig, get_peft_model

    config = tiny_media_config(AUDIO_CLASSIFICATION, "wav2vec2", num_labels=NUM_LABELS)
    model = msd.AutoMSDModelForAudioClassification.from_config(config, msd_dropout=0.3, msd_num_samples=K)
    targets = msd.lora_target_modules(model.config)
    assert targets == "all-linear"
    to_save = msd.lora_modules_to_save(model.config, AUDIO_CLASSIFICATION)
    assert to_save == ["projector", "classifier"]
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=targets, modules_to_save=to_save))
    inputs = media_inputs(AUDIO_CLASSIFICATION, "wav2vec2", config)
    out = peft_model.train()(**inputs, labels=torch.tensor([0, 1, 2, 0]))
    assert out.sample_logits.shape == (K, BATCH, NUM_LABELS)
    out.loss.backward()
    trained = {n for n, p in peft_model.named_parameters() if p.requires_grad and p.grad is not None}
    assert any("q_proj.lora_A" in n for n in trained) and any("v_proj.lora_B" in n for n in trained)
    assert {n.split(".")[2] for n in trained if "modules_to_save" in n} == {"projector", "classifier"}
    assert not any("feature_extractor" in n for n in trained)
    peft_model.save_pretrained(tmp_path)  # the saved adapter holds the projector and the classifier
    saved = load_file(tmp_path / "adapter_model.safetensors")
    assert {k.split(".")[2] for k in saved if "lora" not in k} == {"projector", "classifier"}


def test_config_route_and_auto_classes(tmp_path):
    """The config route (`AutoModelForImageClassification` / `AutoModelForAudioClassification` with an MSD config) and
    the upstream Auto class on a saved MSD checkpoint give the MSD classes; `msd_config(..., task=...)` checks the
    required rate early."""
    from transformers import AutoModelForAudioClassification, AutoModelForImageClassification

    for task, model_type, auto in (
        (IMAGE_CLASSIFICATION, "vit", AutoModelForImageClassification),
        (AUDIO_CLASSIFICATION, "wav2vec2", AutoModelForAudioClassification),
    ):
        config = tiny_media_config(task, model_type, num_labels=NUM_LABELS)
        with pytest.raises(ValueError, match="msd_dropout must be set"):
            msd.msd_config(config, task=task)
        arch = msd.get_architecture(model_type, task)
        arch.model_class(config).save_pretrained(tmp_path / model_type)
        model = auto.from_pretrained(tmp_path / model_type, config=msd.msd_config(config, task=task, msd_dropout=0.2))
        assert type(model).__name__ == f"MSD{arch.model_class.__name__}" and model.msd.rates == (0.2,) * 8
        model.save_pretrained(tmp_path / f"{model_type}-msd")
        assert type(auto.from_pretrained(tmp_path / f"{model_type}-msd")) is type(model)
    assert "vit" in msd.supported_model_types("image-classification")
    assert "wav2vec2" in msd.supported_model_types("audio-classification")
