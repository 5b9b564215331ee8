"""optbench's stand-in for AlgoPerf's `algoperf` package (what submissions import)."""
