"""Per-workload batch sizes of optbench's baselines: one table, which a submission can override."""

from __future__ import annotations

DEFAULT_BATCH_SIZES: dict[str, int] = {
    "fmnist_mlp": 128,
    "molecules_gnn": 128,
    "mri_unet": 32,
    "speech_lstm": 32,
    "speech_conformer": 32,
    "fmnist_resnet": 128,
    "fmnist_vit": 128,
    "clicks_dlrm": 2048,
    "shakespeare_lm": 32,
    # AlgoPerf's own workloads (size full): AlgoPerf's NadamW baseline batches.
    "imagenet_resnet": 1024,
    "imagenet_vit": 1024,
    "fastmri": 32,
    "criteo1tb": 262_144,
    "ogbg": 512,
    "librispeech_conformer": 256,
    "librispeech_deepspeech": 256,
    "wmt": 128,
}


def batch_size_for(workload_name: str, overrides: dict[str, int] | None = None) -> int:
    """The batch size for ``workload_name``; ValueError if none is known (AlgoPerf's convention,
    so the runner then asks again with the base workload's and the mirrored AlgoPerf name)."""
    table = {**DEFAULT_BATCH_SIZES, **(overrides or {})}
    if workload_name not in table:
        raise ValueError(f"no batch size for workload {workload_name!r}")
    return table[workload_name]
