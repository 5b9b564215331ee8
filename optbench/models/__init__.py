"""Networks of the full-size (AlgoPerf-scale) workloads, kept apart from the workload machinery so
that they can be built on any device (the ``meta`` device counts parameters without memory)."""
