"""Declares itself as the NadamW baseline (its SUBMISSION object says name="nadamw")."""

from optbench.algorithms.nadamw import SUBMISSION as _NADAMW

SUBMISSION = _NADAMW
