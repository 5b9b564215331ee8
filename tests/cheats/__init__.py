"""Cheating submissions, one per cheat class of the threat model (docs/RELIABILITY.md).

Each reports what it achieved to the file named by ``OPTBENCH_CHEAT_LOG`` (the test reads it):
a cheat blocked by the supervised trial leaves evidence that it tried and failed.
"""
