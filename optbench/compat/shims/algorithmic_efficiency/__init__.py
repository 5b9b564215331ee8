"""optbench's stand-in for AlgoPerf's `algorithmic_efficiency` package (only what submissions import)."""
