"""The runner's clock: device-synchronised timestamps that a submission cannot alter.

``perf_counter`` is bound here when optbench is imported, before any submission code runs, so a
submission that patches ``time.perf_counter`` or ``time.time`` does not change recorded times.
"""

from __future__ import annotations

from time import perf_counter as _perf_counter

import torch


class Clock:
    """Timestamps taken after the device has finished all queued work."""

    def __init__(self, device: torch.device) -> None:
        self._sync = torch.cuda.synchronize if device.type == "cuda" else None

    def now(self) -> float:
        """Seconds (monotonic), after a device synchronisation."""
        if self._sync is not None:
            self._sync()
        return _perf_counter()
