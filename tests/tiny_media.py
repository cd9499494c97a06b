"""Tiny configs of every image, audio and video classification family (built here, no download), and their inputs.

Each builder takes the dropout rate `d` of the backbone's dropouts (where the family has them) and returns the keyword
arguments of `AutoConfig.for_model`; the sizes are the smallest the family's shape rules allow.
"""

import torch
from transformers import AutoConfig

IMAGE_SIZE = 32
CHANNELS = 3
AUDIO_SAMPLES = 1600  # raw waveform samples per example (0.1 s at 16 kHz)
FRAMES = 4  # video frames per clip

_VIT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=IMAGE_SIZE,
            patch_size=8)  # fmt: skip


def _vit_like(d: float, **kwargs) -> dict:
    return dict(_VIT, hidden_dropout_prob=d, attention_probs_dropout_prob=d, **kwargs)


def _clip_like(d: float, vision_model_type: str) -> dict:
    vision = dict(_VIT, model_type=vision_model_type, attention_dropout=d)
    text = dict(model_type=vision_model_type.replace("vision", "text"), hidden_size=32, num_hidden_layers=1,
                num_attention_heads=4, intermediate_size=37, vocab_size=99, max_position_embeddings=16)  # fmt: skip
    return dict(vision_config=vision, text_config=text)


def _swin_like(d: float, **kwargs) -> dict:
    return dict(
        image_size=IMAGE_SIZE, patch_size=2, embed_dim=8, depths=[1, 1], num_heads=[2, 2], window_size=4,
        hidden_dropout_prob=d, attention_probs_dropout_prob=d, **kwargs,
    )  # fmt: skip


def _wav2vec2_like(d: float, **kwargs) -> dict:
    common = dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, conv_dim=(16, 16),
        conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=4,
        hidden_dropout=d, attention_dropout=d, activation_dropout=d, feat_proj_dropout=d, final_dropout=d,
        classifier_proj_size=16, mask_time_prob=0.0, layerdrop=d,
    )  # fmt: skip
    return {**common, **kwargs}


TINY_IMAGE = {
    "beit": lambda d: _vit_like(d, use_mean_pooling=True),
    "bit": lambda d: dict(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_groups=4, layer_type="bottleneck"
    ),
    "clip": lambda d: _clip_like(d, "clip_vision_model"),
    "convnext": lambda d: dict(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, patch_size=4, drop_path_rate=0.0),
    "convnextv2": lambda d: dict(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, patch_size=4),
    "cvt": lambda d: dict(
        embed_dim=[16], num_heads=[2], depth=[1], patch_sizes=[7], patch_stride=[4], patch_padding=[2],
        mlp_ratio=[2.0], attention_drop_rate=[d], drop_rate=[d], drop_path_rate=[0.0], qkv_bias=[True],
        cls_token=[True], qkv_projection_method=["dw_bn"], kernel_qkv=[3], padding_kv=[1], stride_kv=[2],
        padding_q=[1], stride_q=[1],
    ),
    "data2vec-vision": lambda d: _vit_like(d, use_mean_pooling=True),
    "deit": _vit_like,
    "dinov2": lambda d: _vit_like(d, mlp_ratio=2),
    "dinov2_with_registers": lambda d: _vit_like(d, mlp_ratio=2, num_register_tokens=2),
    "donut-swin": _swin_like,
    "efficientnet": lambda d: dict(
        image_size=IMAGE_SIZE, width_coefficient=0.1, depth_coefficient=0.1, hidden_dim=128, dropout_rate=d,
        drop_connect_rate=0.0,
    ),
    "focalnet": lambda d: dict(image_size=IMAGE_SIZE, patch_size=2, embed_dim=8, depths=[1, 1], focal_levels=[2, 2],
                               focal_windows=[3, 3], hidden_dropout_prob=d),  # fmt: skip
    "hgnet_v2": lambda d: dict(
        embedding_size=8, hidden_sizes=[16, 32], depths=[1, 1], stem_channels=[3, 8, 8],
        stage_in_channels=[8, 16], stage_mid_channels=[8, 8], stage_out_channels=[16, 32], stage_num_blocks=[1, 1],
        stage_downsample=[False, True], stage_light_block=[False, False], stage_kernel_size=[3, 3],
        stage_numb_of_layers=[1, 1],
    ),
    "hiera": lambda d: dict(
        image_size=[IMAGE_SIZE, IMAGE_SIZE], patch_size=[3, 3], patch_stride=[2, 2], patch_padding=[1, 1],
        embed_dim=8, num_heads=[1, 2], depths=[1, 1], embed_dim_multiplier=2.0, num_query_pool=1,
        query_stride=[2, 2], masked_unit_size=[4, 4], masked_unit_attention=[True, False], drop_path_rate=0.0,
    ),
    "ijepa": _vit_like,
    "imagegpt": lambda d: dict(
        vocab_size=17, n_positions=64, n_embd=32, n_layer=2, n_head=4, resid_pdrop=d, embd_pdrop=d, attn_pdrop=d
    ),
    "levit": lambda d: dict(
        image_size=IMAGE_SIZE, patch_size=16, hidden_sizes=[16, 32], num_attention_heads=[2, 2], depths=[1, 1],
        key_dim=[8, 8], drop_path_rate=0, mlp_ratio=[2, 2], attention_ratio=[2, 2],
        down_ops=[["Subsample", 8, 2, 4, 2, 2]],
    ),
    "metaclip_2": lambda d: _clip_like(d, "metaclip_2_vision_model"),
    "mobilenet_v1": lambda d: dict(
        image_size=IMAGE_SIZE, depth_multiplier=0.25, min_depth=4, classifier_dropout_prob=d
    ),
    "mobilenet_v2": lambda d: dict(image_size=IMAGE_SIZE, depth_multiplier=0.25, min_depth=4, depth_divisible_by=4,
                                   classifier_dropout_prob=d),  # fmt: skip
    "mobilevit": lambda d: dict(
        image_size=IMAGE_SIZE, patch_size=2, hidden_sizes=[16, 16, 16], neck_hidden_sizes=[8, 8, 8, 8, 8, 8, 16],
        num_attention_heads=2, mlp_ratio=2.0, hidden_dropout_prob=d, attention_probs_dropout_prob=d,
        classifier_dropout_prob=d,
    ),
    # five stride-2 stages: 64 x 64 images leave 2 x 2 maps for the last stage's 2 x 2 patches
    "mobilevitv2": lambda d: dict(image_size=2 * IMAGE_SIZE, patch_size=2, width_multiplier=0.25, attn_dropout=d),
    "poolformer": lambda d: dict(hidden_sizes=[8, 16], depths=[1, 1], num_encoder_blocks=2, patch_sizes=[7, 3],
                                 strides=[4, 2], padding=[2, 1], pool_size=3, hidden_dropout_prob=d),  # fmt: skip
    "pvt": lambda d: dict(
        image_size=IMAGE_SIZE, num_encoder_blocks=2, depths=[1, 1], sequence_reduction_ratios=[2, 1],
        hidden_sizes=[8, 16], patch_sizes=[4, 2], strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2],
        hidden_dropout_prob=d, attention_probs_dropout_prob=d, drop_path_rate=0.0,
    ),
    "pvt_v2": lambda d: dict(
        image_size=IMAGE_SIZE, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
        patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2], hidden_dropout_prob=d,
        attention_probs_dropout_prob=d, drop_path_rate=0.0,
    ),
    "regnet": lambda d: dict(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], groups_width=4),
    "resnet": lambda d: dict(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1]),
    "segformer": lambda d: dict(
        num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16], patch_sizes=[7, 3],
        strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2], hidden_dropout_prob=d,
        attention_probs_dropout_prob=d, classifier_dropout_prob=d, drop_path_rate=0.0, decoder_hidden_size=16,
    ),
    "siglip": lambda d: _clip_like(d, "siglip_vision_model"),
    "siglip2": lambda d: {
        **_clip_like(d, "siglip2_vision_model"),
        "vision_config": dict(_VIT, model_type="siglip2_vision_model", num_patches=16, attention_dropout=d),
    },
    "swin": _swin_like,
    "swinv2": _swin_like,
    # timm's own test architectures (tiny, built offline with pretrained=False): a ResNet (F.dropout at drop_rate)
    "timm_wrapper": lambda d: dict(architecture="test_resnet", model_args={"drop_rate": d}),
    "textnet": lambda d: dict(
        stem_out_channels=8, conv_layer_kernel_sizes=[[[3, 3]], [[3, 3]]], conv_layer_strides=[[1], [2]],
        hidden_sizes=[8, 8, 16],
    ),
    "vit": _vit_like,
    "vit_msn": _vit_like,
}  # fmt: skip

TINY_AUDIO = {
    "audio-spectrogram-transformer": lambda d: dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, patch_size=4,
        frequency_stride=4, time_stride=4, max_length=16, num_mel_bins=16, hidden_dropout_prob=d,
        attention_probs_dropout_prob=d,
    ),
    "data2vec-audio": lambda d: _wav2vec2_like(d, num_conv_pos_embeddings=2),
    "hubert": _wav2vec2_like,
    "sew": lambda d: _wav2vec2_like(d, squeeze_factor=2),
    "sew-d": lambda d: _wav2vec2_like(d, squeeze_factor=2, max_position_embeddings=64, position_buckets=16,
                                      share_att_key=True, relative_attention=True, pos_att_type=("p2c", "c2p")),
    "unispeech": _wav2vec2_like,
    "unispeech-sat": _wav2vec2_like,
    "wav2vec2": _wav2vec2_like,
    "wav2vec2-bert": lambda d: dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
        feature_projection_input_dim=16, hidden_dropout=d, attention_dropout=d, activation_dropout=d,
        feat_proj_dropout=d, final_dropout=d, classifier_proj_size=16, mask_time_prob=0.0, layerdrop=d,
        conv_depthwise_kernel_size=3, position_embeddings_type="relative_key", conformer_conv_dropout=d,
        left_max_position_embeddings=8, right_max_position_embeddings=8,
    ),
    "wav2vec2-conformer": lambda d: _wav2vec2_like(
        d, conv_depthwise_kernel_size=3, position_embeddings_type="rotary", conformer_conv_dropout=d
    ),
    "wavlm": lambda d: _wav2vec2_like(d, num_buckets=8, max_bucket_distance=16),
    "whisper": lambda d: dict(
        d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4,
        encoder_ffn_dim=37, decoder_ffn_dim=37, num_mel_bins=16, max_source_positions=8, vocab_size=99,
        dropout=d, attention_dropout=d, activation_dropout=d, classifier_proj_size=16,
    ),
}  # fmt: skip

TINY_VIDEO = {
    "timesformer": lambda d: dict(_vit_like(d), num_frames=FRAMES),
    "videomae": lambda d: dict(_vit_like(d), num_frames=FRAMES, tubelet_size=2),
    "vivit": lambda d: dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=IMAGE_SIZE,
        num_frames=FRAMES, tubelet_size=[2, 8, 8], hidden_dropout_prob=d, attention_probs_dropout_prob=d,
    ),
    "vjepa2": lambda d: dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2.0, crop_size=IMAGE_SIZE,
        patch_size=8, frames_per_clip=FRAMES, tubelet_size=2, pred_hidden_size=16, pred_num_hidden_layers=1,
        pred_num_attention_heads=2, num_pooler_layers=1, attention_probs_dropout_prob=d,
    ),
}  # fmt: skip

TINY_MEDIA = {
    "image-classification": TINY_IMAGE, "audio-classification": TINY_AUDIO, "video-classification": TINY_VIDEO,
}  # fmt: skip


def timm_missing() -> str | None:
    """Why the `timm_wrapper` family cannot be tested here (the optional `timm` extra is not importable), or `None`."""
    try:
        import timm  # noqa: F401
    except ImportError as err:
        return f"timm_wrapper needs the optional `timm` extra (pip install 'msd-transformers[timm]'): {err}"
    return None


def tiny_media_config(task: str, model_type: str, dropout: float = 0.1, **kwargs):
    """A tiny upstream config of `model_type` for `task`, every backbone dropout at `dropout`, with `kwargs` set."""
    config = AutoConfig.for_model(model_type, **TINY_MEDIA[task][model_type](dropout))
    for key, value in kwargs.items():
        setattr(config, key, value)
    return config


def media_inputs(task: str, model_type: str, config, batch_size: int = 4) -> dict:
    """Seeded inputs of a batch: images `(B, 3, H, W)`, waveforms `(B, samples)` with the last two examples padded
    (and an attention mask where the family takes one), log-mel features, or clips `(B, frames, 3, H, W)`."""
    g = torch.Generator().manual_seed(0)
    if model_type == "imagegpt":  # colour-cluster ids of an 8 x 8 image (its image processor's output)
        return {"input_ids": torch.randint(0, config.vocab_size - 1, (batch_size, 16), generator=g)}
    if model_type == "siglip2":  # patches flattened by its image processor, with their mask and grid shape
        vision = config.vision_config
        dim = vision.num_channels * vision.patch_size**2
        return {
            "pixel_values": torch.randn(batch_size, vision.num_patches, dim, generator=g),
            "pixel_attention_mask": torch.ones(batch_size, vision.num_patches, dtype=torch.long),
            "spatial_shapes": torch.tensor([[4, 4]] * batch_size),
        }
    if task == "image-classification":
        size = getattr(config, "image_size", IMAGE_SIZE)
        size = size if isinstance(size, int) else IMAGE_SIZE  # Hiera, PVTv2 and TextNet give a list of both sides
        return {"pixel_values": torch.randn(batch_size, CHANNELS, size, size, generator=g)}
    if task == "video-classification":
        name = "pixel_values_videos" if model_type == "vjepa2" else "pixel_values"
        return {name: torch.randn(batch_size, FRAMES, CHANNELS, IMAGE_SIZE, IMAGE_SIZE, generator=g)}
    if model_type == "audio-spectrogram-transformer":
        return {"input_values": torch.randn(batch_size, config.max_length, config.num_mel_bins, generator=g)}
    if model_type == "whisper":
        frames = 2 * config.max_source_positions
        return {"input_features": torch.randn(batch_size, config.num_mel_bins, frames, generator=g)}
    if model_type == "wav2vec2-bert":
        features = torch.randn(batch_size, 20, config.feature_projection_input_dim, generator=g)
        mask = torch.ones(batch_size, 20, dtype=torch.long)
        mask[-2:, 14:] = 0
        return {"input_features": features, "attention_mask": mask}
    values = torch.randn(batch_size, AUDIO_SAMPLES, generator=g)
    mask = torch.ones(batch_size, AUDIO_SAMPLES, dtype=torch.long)
    mask[-2:, AUDIO_SAMPLES * 3 // 4 :] = 0  # the last two examples padded
    values = values * mask
    return {"input_values": values, "attention_mask": mask}


def lively(model: torch.nn.Module) -> torch.nn.Module:
    """`model` with lively features: Linear weights at unit gain (std 1 / sqrt(fan_in)), convolutions at ReLU gain
    (sqrt(2 / fan_in)), BatchNorm scales 1, seeded. The tiny convolutional families' own init (std 0.02, BatchNorm
    scales too) shrinks the features layer by layer (EfficientNet, MobileViT, the MobileNets to below 1e-30), which
    would make every comparison of logits vacuous."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)):
                gain = 1.0 if isinstance(module, torch.nn.Linear) else 2.0
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=g) * (gain / fan_in) ** 0.5)
            elif isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.weight is not None:
                module.weight.fill_(1.0)
    return model
