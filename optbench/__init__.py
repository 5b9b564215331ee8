"""optbench: how fast do training algorithms reach a fixed quality? (AlgoPerf-compatible)."""

__version__ = "0.1.0"
