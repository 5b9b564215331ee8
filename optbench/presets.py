"""Benchmark presets: one table of every benchmark version's constants, as data.

Both ``optbench score`` (through :mod:`optbench.scoring`) and ``optbench tune`` (through
:mod:`optbench.tuning`) read this table, so the studies, trials and budget multipliers a run
is planned with are the ones its leaderboard is scored with.

A preset holds, per tuning ruleset (``external``, ``self``), the number of studies, of trials
per study and the budget multiplier; and for the benchmark as a whole: the scoring mode, the
validation targets, the scored (base) and held-out workloads, and the external-tuning budgets
(a self-tuning leaderboard multiplies them by its ruleset's ``budget_scale``).

Sources: the targets and step hints are AlgoPerf's frozen ``workload_targets_v05.json`` (v0.6's
file has the same values); the v0.5 budgets are those of the official ``compute_speedups.py``, the
v0.6 budgets the external-tuning runtime budgets of AlgoPerf's v0.6 rules. AlgoPerf's v0.6
targets file also lists ``finewebedu_lm`` as a ninth base workload; no v0.6 leaderboard log holds
a run of it, so the ``algoperf-v0.6`` preset scores the eight workloads of the leaderboard (pass
AlgoPerf's file with ``--targets`` to score nine).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from optbench.errors import UserError

RULESETS = ("external", "self")
# AlgoPerf's log tree: <logs>/<folder>/<submission>/study_<k>/...
RULESET_FOLDERS: Mapping[str, str] = MappingProxyType(
    {"external": "external_tuning", "self": "self_tuning"}
)
# How output names each ruleset.
RULESET_TITLES: Mapping[str, str] = MappingProxyType(
    {"external": "external tuning", "self": "self-tuning"}
)


@dataclass(frozen=True)
class RulesetRules:
    """Studies, trials per study (None: any number) and budget multiplier of one ruleset."""

    studies: int
    trials: int | None
    budget_scale: float


@dataclass(frozen=True)
class TargetSpec:
    """A workload's validation target as AlgoPerf freezes it (direction by the metric's name)."""

    metric: str
    value: float
    step_hint: int


@dataclass(frozen=True)
class Preset:
    """One benchmark version's constants (scoring and tuning).

    ``base_workloads`` is None when the preset carries no targets (they then come from a
    targets file or from the logs' meta data). ``budgets`` are external-tuning budgets in
    seconds. ``tunable``: offered by ``optbench tune``.
    """

    name: str
    description: str
    mode: str
    rulesets: Mapping[str, RulesetRules]
    targets: Mapping[str, TargetSpec] = field(default_factory=dict)
    base_workloads: tuple[str, ...] | None = None
    held_out_workloads: tuple[str, ...] = ()
    budgets: Mapping[str, float] = field(default_factory=dict)
    budget_pad_sec: float = 0.0
    held_out_from_metadata: bool = False
    tunable: bool = True

    def ruleset(self, name: str) -> RulesetRules:
        """The rules of tuning ruleset ``name`` (external or self); UserError when unknown."""
        try:
            return self.rulesets[name]
        except KeyError:
            raise UserError(f"unknown ruleset {name!r}; choose external or self") from None

    @property
    def num_studies(self) -> int:
        """Studies per workload under external tuning (kept for older callers)."""
        return self.rulesets["external"].studies

    @property
    def num_trials(self) -> int | None:
        """Trials per study under external tuning (kept for older callers)."""
        return self.rulesets["external"].trials


def _targets(rows: dict[str, tuple[str, float, int]]) -> Mapping[str, TargetSpec]:
    return MappingProxyType({name: TargetSpec(*row) for name, row in rows.items()})


# AlgoPerf's frozen targets (workload_targets_v05.json; the v0.6 file holds the same values).
ALGOPERF_TARGETS: Mapping[str, TargetSpec] = _targets(
    {
        "cifar": ("accuracy", 0.85, 4883),
        "criteo1tb": ("loss", 0.123735, 10666),
        "criteo1tb_test": ("loss", 0.123735, 10666),
        "criteo1tb_layernorm": ("loss", 0.123757, 10666),
        "criteo1tb_embed_init": ("loss", 0.129657, 10666),
        "criteo1tb_resnet": ("loss", 0.12415, 10666),
        "fastmri": ("ssim", 0.723653, 18094),
        "fastmri_model_size": ("ssim", 0.723559, 18094),
        "fastmri_tanh": ("ssim", 0.71784, 18094),
        "fastmri_layernorm": ("ssim", 0.723284, 18094),
        "imagenet_resnet": ("accuracy", 0.77431, 195999),
        "imagenet_resnet_silu": ("accuracy", 0.75445, 195999),
        "imagenet_resnet_gelu": ("accuracy", 0.76765, 195999),
        "imagenet_resnet_large_bn_init": ("accuracy", 0.76526, 195999),
        "imagenet_vit": ("accuracy", 0.77309, 167999),
        "imagenet_vit_glu": ("accuracy", 0.75738, 167999),
        "imagenet_vit_post_ln": ("accuracy", 0.75312, 167999),
        "imagenet_vit_map": ("accuracy", 0.77113, 167999),
        "librispeech_conformer": ("wer", 0.085884, 76000),
        "librispeech_conformer_attention_temperature": ("wer", 0.109977, 76000),
        "librispeech_conformer_layernorm": ("wer", 0.09731, 76000),
        "librispeech_conformer_gelu": ("wer", 0.094114, 76000),
        "librispeech_deepspeech": ("wer", 0.119936, 38400),
        "librispeech_deepspeech_tanh": ("wer", 0.150883, 38400),
        "librispeech_deepspeech_no_resnet": ("wer", 0.131564, 38400),
        "librispeech_deepspeech_norm_and_spec_aug": ("wer", 0.14342, 38400),
        "finewebedu_lm": ("ppl", 22.2995, 72000),
        "mnist": ("accuracy", 0.97, 7813),
        "ogbg": ("mean_average_precision", 0.28098, 52000),
        "ogbg_gelu": ("mean_average_precision", 0.27771, 52000),
        "ogbg_silu": ("mean_average_precision", 0.282178, 52000),
        "ogbg_model_size": ("mean_average_precision", 0.269446, 52000),
        "wmt": ("bleu", 30.8491, 120000),
        "wmt_post_ln": ("bleu", 30.0779, 120000),
        "wmt_attention_temp": ("bleu", 29.3379, 120000),
        "wmt_glu_tanh": ("bleu", 29.5779, 120000),
    }
)

ALGOPERF_BASE_WORKLOADS = (
    "criteo1tb",
    "fastmri",
    "imagenet_resnet",
    "imagenet_vit",
    "librispeech_conformer",
    "librispeech_deepspeech",
    "ogbg",
    "wmt",
)

V05_HELD_OUT_WORKLOADS = (
    "criteo1tb_embed_init",
    "fastmri_tanh",
    "imagenet_resnet_large_bn_init",
    "librispeech_conformer_layernorm",
    "ogbg_model_size",
    "wmt_glu_tanh",
)

# External-tuning budgets (s) of the first competition, as in the official compute_speedups.py.
V05_BUDGETS: Mapping[str, float] = MappingProxyType(
    {
        "criteo1tb": 7703,
        "fastmri": 8859,
        "imagenet_resnet": 63_008,
        "imagenet_vit": 77_520,
        "librispeech_conformer": 61_068,
        "librispeech_deepspeech": 55_506,
        "ogbg": 18_477,
        "wmt": 48_151,
    }
)

# External-tuning budgets (s) of AlgoPerf v0.6's rules, development workloads included.
V06_BUDGETS: Mapping[str, float] = MappingProxyType(
    {
        "criteo1tb": 7703,
        "fastmri": 4430,
        "imagenet_resnet": 66_159,
        "imagenet_vit": 69_768,
        "librispeech_conformer": 58_015,
        "librispeech_deepspeech": 44_405,
        "ogbg": 12_011,
        "wmt": 43_336,
        "mnist": 60,
        "cifar": 3600,
    }
)

V06_RULESETS: Mapping[str, RulesetRules] = MappingProxyType(
    {
        "external": RulesetRules(studies=3, trials=5, budget_scale=1.0),
        "self": RulesetRules(studies=3, trials=1, budget_scale=1.5),
    }
)

PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        "default": Preset(
            name="default",
            description="optbench's rules, v0.6-like: 3 studies; targets from a file or the logs",
            mode="optbench",
            rulesets=MappingProxyType(
                {
                    "external": RulesetRules(studies=3, trials=None, budget_scale=1.0),
                    "self": RulesetRules(studies=3, trials=1, budget_scale=1.5),
                }
            ),
            tunable=False,
        ),
        "algoperf-v0.5": Preset(
            name="algoperf-v0.5",
            description="first competition: 5 studies (x 5 trials external), held-out variants",
            mode="algoperf",
            rulesets=MappingProxyType(
                {
                    "external": RulesetRules(studies=5, trials=5, budget_scale=1.0),
                    "self": RulesetRules(studies=5, trials=1, budget_scale=3.0),
                }
            ),
            targets=ALGOPERF_TARGETS,
            base_workloads=ALGOPERF_BASE_WORKLOADS,
            held_out_workloads=V05_HELD_OUT_WORKLOADS,
            budgets=V05_BUDGETS,
            budget_pad_sec=1.0,
            held_out_from_metadata=True,
        ),
        "algoperf-v0.6": Preset(
            name="algoperf-v0.6",
            description="current version: 3 studies (x 5 trials external), no held-out variants",
            mode="algoperf",
            rulesets=V06_RULESETS,
            targets=ALGOPERF_TARGETS,
            base_workloads=ALGOPERF_BASE_WORKLOADS,
            budgets=V06_BUDGETS,
            budget_pad_sec=1.0,
        ),
    }
)


def get(name: str) -> Preset:
    """The preset called ``name``; UserError naming the choices when unknown."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})") from None
