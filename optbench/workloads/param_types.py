"""AlgoPerf parameter types of a PyTorch model, inferred from the modules that own the parameters.

Norm layers, embeddings, convolutions and ``nn.MultiheadAttention`` are recognised by their class;
every other parameter is a weight or a bias. A module may declare the types of its children's
parameters itself with a ``parameter_types`` mapping from parameter name (relative to the module,
e.g. ``"query.weight"``) to type, as the attention layers of :mod:`optbench.workloads.common` do.
"""

from __future__ import annotations

from torch import nn

from optbench import spec

_NORM_TYPES = {
    nn.BatchNorm1d: (spec.ParameterType.BATCH_NORM_SCALE, spec.ParameterType.BATCH_NORM_BIAS),
    nn.BatchNorm2d: (spec.ParameterType.BATCH_NORM_SCALE, spec.ParameterType.BATCH_NORM_BIAS),
    nn.LayerNorm: (spec.ParameterType.LAYER_NORM_SCALE, spec.ParameterType.LAYER_NORM_BIAS),
    nn.GroupNorm: (spec.ParameterType.LAYER_NORM_SCALE, spec.ParameterType.LAYER_NORM_BIAS),
}


def _own_type(module: nn.Module, param_name: str) -> spec.ParameterType:
    """The type of ``module``'s own parameter ``param_name``, from the module's class."""
    is_bias = param_name.endswith("bias")
    if type(module) in _NORM_TYPES:
        scale, bias = _NORM_TYPES[type(module)]
        return bias if is_bias else scale
    if isinstance(module, nn.Embedding):
        return spec.ParameterType.EMBEDDING
    if isinstance(module, nn.MultiheadAttention):
        return spec.ParameterType.ATTENTION_BIAS if is_bias else spec.ParameterType.ATTENTION_QKV
    if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d) and not is_bias:
        return spec.ParameterType.CONV_WEIGHT
    return spec.ParameterType.BIAS if is_bias else spec.ParameterType.WEIGHT


def parameter_types(model: nn.Module) -> dict[str, spec.ParameterType]:
    """AlgoPerf parameter types of every parameter of ``model``, keyed as ``named_parameters``."""
    types: dict[str, spec.ParameterType] = {}
    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        for param_name, _ in module.named_parameters(recurse=False):
            types[prefix + param_name] = _own_type(module, param_name)
    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        for relative, kind in getattr(module, "parameter_types", {}).items():
            types[prefix + relative] = kind
    return types
