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

Then: the image and audio pipelines give the upstream results.
"""

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_media import TINY_MEDIA, lively, media_inputs, tiny_media_config
from transformers import ViTImageProcessor, Wav2Vec2FeatureExtractor, pipeline

import msd_transformers as msd
from msd_transformers import MultiSampleLinear
from msd_transformers.architectures import AUDIO_CLASSIFICATION, IMAGE_CLASSIFICATION, VIDEO_CLASSIFICATION

MEDIA_TASKS = (IMAGE_CLASSIFICATION, AUDIO_CLASSIFICATION, VIDEO_CLASSIFICATION)
AUTO = {
    IMAGE_CLASSIFICATION: msd.AutoMSDModelForImageClassification,
    AUDIO_CLASSIFICATION: msd.AutoMSDModelForAudioClassification,
    VIDEO_CLASSIFICATION: msd.AutoMSDModelForVideoClassification,
}
K, BATCH, NUM_LABELS = 4, 4, 3
CASES = [(task, model_type) for task in MEDIA_TASKS for model_type in msd.supported_model_types(task)]
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
    if model_type in CROSS_ENTROPY_ONLY:
        return [single]
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


@pytest.mark.parametrize("task, model_type", CASES, ids=[f"{task}-{t}" for task, t in CASES])
def test_family_matches_upstream(task, model_type, tmp_path):
    arch = msd.get_architecture(model_type, task)
    config = tiny_media_config(task, model_type, dropout=0.1, num_labels=NUM_LABELS)
    torch.manual_seed(0)
    upstream = lively(arch.model_class(config)).eval()
    inputs = media_inputs(task, model_type, config, batch_size=BATCH)
    with torch.no_grad():  # logits of std 1: the samples, and the losses, differ well above the tolerances
        upstream.get_submodule(arch.classifier).weight.div_(upstream(**inputs).logits.std())
    rate = {} if arch.dropout is not None else {"msd_dropout": 0.5}
    if arch.dropout is None:  # no dropout before the Linear upstream: no rate to default to
        with pytest.raises(ValueError, match="msd_dropout must be set"):
            AUTO[task].from_config(config)

    # Checkpoints both ways, no missing or unexpected keys.
    upstream.save_pretrained(tmp_path / "upstream")
    model, info = AUTO[task].from_pretrained(
        tmp_path / "upstream", msd_num_samples=K, output_loading_info=True, **rate
    )
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    assert type(model).__name__ == f"MSD{arch.model_class.__name__}" and isinstance(model.msd, MultiSampleLinear)
    if arch.dropout is not None:  # the upstream rate is the default
        assert model.msd.rates == (upstream.get_submodule(arch.dropout).p,) * K
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
@pytest.mark.parametrize("model_type", ["vit", "resnet", "mobilenet_v2"])
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
