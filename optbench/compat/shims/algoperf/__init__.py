"""optbench's stand-in for AlgoPerf's `algoperf` package (only what submissions import)."""
