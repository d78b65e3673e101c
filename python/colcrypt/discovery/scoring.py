"""Column-level statistics for discovery: a match ratio means something only with its sample size
and, for checksummed kinds, with its lift over what chance alone would pass."""

import math


def wilson_lower(matches: int, n: int, z: float = 1.96) -> float:
    """Lower bound of the Wilson score interval for a proportion (95% by default)."""
    if n == 0:
        return 0.0
    p = min(1.0, max(0.0, matches / n))
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z * z / n))


def checksum_lift(passes: int, candidates: int, chance: float) -> float:
    """How many times more often values pass a checksum than random ones would (Luhn: chance 0.1).
    About 10 for a column of real card numbers, about 1 for ids that merely look like them."""
    if candidates == 0:
        return 0.0
    return (passes / candidates) / chance
