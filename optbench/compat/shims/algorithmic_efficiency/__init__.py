"""optbench's stand-in for AlgoPerf's `algorithmic_efficiency` package (what submissions import)."""
