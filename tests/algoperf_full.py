"""AlgoPerf's published settings of its eight workloads and their variants (the full tier),
copied once from AlgoPerf's workload files and rules, for tests to check optbench against."""

from __future__ import annotations

# (validation target, test target) of every full-size workload.
TARGETS = {
    "criteo1tb": (0.123735, 0.126041),
    "criteo1tb_layernorm": (0.123757, 0.126152),
    "criteo1tb_resnet": (0.12415, 0.12648),
    "criteo1tb_embed_init": (0.129657, 0.131967),
    "fastmri": (0.723653, 0.740633),
    "fastmri_model_size": (0.723559, 0.740726),
    "fastmri_tanh": (0.717840, 0.734505),
    "fastmri_layernorm": (0.723284, 0.739996),
    "imagenet_resnet": (0.77431, 0.6560),
    "imagenet_resnet_silu": (0.75445, 0.6323),
    "imagenet_resnet_gelu": (0.76765, 0.6519),
    "imagenet_resnet_large_bn_init": (0.76526, 0.6423),
    "imagenet_vit": (0.77309, 1 - 0.3481),  # AlgoPerf states it as 1 - test error
    "imagenet_vit_glu": (0.75738, 0.6359),
    "imagenet_vit_post_ln": (0.75312, 0.6286),
    "imagenet_vit_map": (0.77113, 0.6523),
    "librispeech_conformer": (0.085884, 0.052981),
    "librispeech_conformer_attention_temperature": (0.109977, 0.068065),
    "librispeech_conformer_layernorm": (0.09731, 0.05996),
    "librispeech_conformer_gelu": (0.094114, 0.056629),
    "librispeech_deepspeech": (0.119936, 0.074143),
    "librispeech_deepspeech_tanh": (0.150883, 0.098613),
    "librispeech_deepspeech_no_resnet": (0.131564, 0.079297),
    "librispeech_deepspeech_norm_and_spec_aug": (0.14342, 0.090976),
    "ogbg": (0.28098, 0.268729),
    "ogbg_gelu": (0.27771, 0.262926),
    "ogbg_silu": (0.282178, 0.272144),
    "ogbg_model_size": (0.269446, 0.253051),
    "wmt": (30.8491, 30.7219),
    "wmt_post_ln": (30.0779, 29.8982),
    "wmt_attention_temp": (29.3379, 29.4143),
    "wmt_glu_tanh": (29.5779, 29.0515),
}
# Per base workload (its variants share it): (max_allowed_runtime_sec, eval_period_time_sec,
# step_hint), the target metric and whether higher is better.
BUDGETS = {
    "criteo1tb": ((7703.0, 120.0, 10666), "loss", False),
    "fastmri": ((4430.0, 80.0, 18094), "ssim", True),
    "imagenet_resnet": ((66159.0, 510.0, 195999), "accuracy", True),
    "imagenet_vit": ((69768.0, 420.0, 167999), "accuracy", True),
    "librispeech_conformer": ((58015.0, 1440.0, 76000), "wer", False),
    "librispeech_deepspeech": ((44405.0, 1440.0, 38400), "wer", False),
    "ogbg": ((12011.0, 240.0, 52000), "mean_average_precision", True),
    "wmt": ((43336.0, 840.0, 120000), "bleu", True),
}
# Parameters of every full-size network, counted from AlgoPerf's PyTorch model definitions.
PARAM_COUNTS = {
    # Computed from AlgoPerf's PyTorch definitions (algoperf/workloads/{fastmri,criteo1tb}/
    # *_pytorch/models.py); e.g. U-Net 32 ch / 4 pools: 9 * sum(cin * cout) over its 3x3 convs
    # + 4 * sum over its 2x2 transposed convs + 33 (1x1 output) = 7,756,097; DLRM-small:
    # 4,194,304 * 128 embedding + 171,392 bottom + 2,225,153 top = 539,267,457.
    "fastmri": 7_756_097,
    "fastmri_model_size": 7_692_929,
    "fastmri_tanh": 7_756_097,
    "fastmri_layernorm": 7_761_985,  # + 4 * (32 + 64 + ... + 512 + ... + 32) norm scales/biases
    "criteo1tb": 539_267_457,
    "criteo1tb_layernorm": 539_275_137,  # + 7,680 LayerNorm scales and biases
    "criteo1tb_resnet": 538_121_473,
    "criteo1tb_embed_init": 539_267_457,
    # AlgoPerf's PyTorch models: ResNet-50 is torchvision's count; the ViT counts follow from
    # AlgoPerf's ViT-S/16 definition: patch embedding 3*16*16*384 + 384 = 295,296; per block two
    # LayerNorms 2*768, attention 4*(384*384 + 384) = 591,360, MLP 384*1536 + 1536 + 1536*384 + 384
    # = 1,181,568, so 1,774,464 x 12 = 21,293,568; final LayerNorm 768; pre_logits 147,840; head
    # 385,000: 22,122,472. GLU adds 1536*1536 + 1536 per block (+28,329,984); post-LN drops the
    # final LayerNorm (-768); MAP adds the probe 384, q/kv/out projections 591,360, a LayerNorm 768
    # and an MLP 1,181,568 (+1,774,080).
    **dict.fromkeys(
        (
            "imagenet_resnet",
            "imagenet_resnet_silu",
            "imagenet_resnet_gelu",
            "imagenet_resnet_large_bn_init",
        ),
        25_557_032,
    ),
    "imagenet_vit": 22_122_472,
    "imagenet_vit_glu": 50_452_456,
    "imagenet_vit_post_ln": 22_121_704,
    "imagenet_vit_map": 23_896_552,
    # Computed from AlgoPerf's PyTorch definitions (algoperf/workloads/librispeech_*/
    # librispeech_pytorch/models.py). Conformer: subsampling 3x3 kernels 1*512*9 + 512*512*9 and
    # biases, linear 10,240 -> 512 (7,608,320 in all); per block two FFNs of 2,100,736, attention
    # 1,051,712 (LayerNorm, fused QKV, output, 64 query scales), convolution module 792,576, final
    # LayerNorm 1,024 (6,046,784 x 4); final LayerNorm 1,024; output 512 x 1024 + 1024 = 525,312.
    # DeepSpeech: the same subsampling (7,608,320); 6 x (BatchNorm 1,024 + BiLSTM 2 x 788,480);
    # 3 x (BatchNorm 1,024 + 262,656); LayerNorm 1,024; output 525,312.
    **dict.fromkeys(
        (
            "librispeech_conformer",
            "librispeech_conformer_attention_temperature",
            "librispeech_conformer_gelu",
        ),
        32_321_792,
    ),
    "librispeech_conformer_layernorm": 32_317_696,  # no post-LayerNorm in the 4 blocks
    **dict.fromkeys(
        (
            "librispeech_deepspeech",
            "librispeech_deepspeech_tanh",
            "librispeech_deepspeech_no_resnet",
        ),
        18_393_600,
    ),
    "librispeech_deepspeech_norm_and_spec_aug": 18_392_576,  # no LayerNorm before the output
    # From AlgoPerf's PyTorch GNN (algoperf/workloads/ogbg/ogbg_pytorch/models.py). ogbg: embedders
    # 9*256+256 + 3*256+256 = 3,584; step 0: edge and node MLPs (896 inputs) 2 * (896*256 + 256 +
    # 512 LayerNorm), global MLP (640 inputs) 640*256 + 256 + 512; steps 1-4: edge and node MLPs
    # (1,024 inputs) 2 * 262,912, global (768) 197,376; decoder 256*128 + 128 = 32,896: 3,554,176.
    # ogbg_model_size (latent 128, MLPs 256-256, 3 steps): 2,571,648.
    "ogbg": 3_554_176,
    "ogbg_gelu": 3_554_176,
    "ogbg_silu": 3_554_176,
    "ogbg_model_size": 2_571_648,
    # From AlgoPerf's algoperf/workloads/wmt/wmt_pytorch/models.py (ntoken 32,000, d_model 1024,
    # d_hid 1024, 6 + 6 layers, attention without biases): embedding 32,000 * 1024 = 32,768,000;
    # encoder layer 3 * 1024^2 (in_proj) + 1024^2 (out_proj) + 2 * (1024^2 + 1024) (linear1,
    # linear2) + 2 * 2048 (norm1, norm2) = 6,297,600; decoder layer 8 * 1024^2 (self and cross
    # attention) + 2 * (1024^2 + 1024) + 3 * 2048 = 10,493,952; two final LayerNorms (pre-LN) 4,096:
    # 32,768,000 + 6 * 6,297,600 + 6 * 10,493,952 + 4,096 = 133,521,408. Post-LN drops the final
    # LayerNorms (- 4,096); GLU adds linear_glu (1024^2 + 1024) to all 12 layers (+ 12,595,200).
    "wmt": 133_521_408,
    "wmt_post_ln": 133_517_312,
    "wmt_attention_temp": 133_521_408,
    "wmt_glu_tanh": 146_116_608,
}
