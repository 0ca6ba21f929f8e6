"""Named flow-control patterns: how often the source idles and the sink refuses a beat."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StallPattern", "STALL_PATTERNS"]


@dataclass(frozen=True)
class StallPattern:
    name: str
    idle: float = 0.0          # chance per cycle that the source holds valid low
    backpressure: float = 0.0  # chance per cycle that the sink holds ready low
    seed: int = 0


STALL_PATTERNS = {
    "none": StallPattern("none"),
    "idle": StallPattern("idle", idle=0.3),
    "backpressure": StallPattern("backpressure", backpressure=0.3),
    "both": StallPattern("both", idle=0.3, backpressure=0.3),
}
