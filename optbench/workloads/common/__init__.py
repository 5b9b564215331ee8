"""Pieces that several workloads share (loaders, loss helpers, layers, the speech-CTC stack).

Workload modules import from here and never from one another.
"""
