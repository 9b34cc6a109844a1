"""Random identifiers that carry no information.

Guarantees:
- Every id in the simulator's tables is drawn uniformly from 1..2**63-1 by one random stream per
  kind of thing, in an order that does not depend on labels (all accounts are drawn together and
  handed out in a shuffled order), so an id says nothing about what its holder does.
- Ids of one kind are unique; duplicates (astronomically rare) are redrawn, deterministically.
"""

from __future__ import annotations

import numpy as np

ID_HIGH = 2**63 - 1


def unique_ids(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` distinct random positive int64 ids, in random order."""
    ids = rng.integers(1, ID_HIGH, size=count, dtype=np.int64)
    while True:
        _, first = np.unique(ids, return_index=True)
        if len(first) == count:
            return ids
        duplicate = np.ones(count, dtype=bool)
        duplicate[first] = False
        ids[duplicate] = rng.integers(1, ID_HIGH, size=int(duplicate.sum()), dtype=np.int64)


def stream_seeds(seed: int, names: tuple[str, ...]) -> dict[str, np.random.SeedSequence]:
    """Independent seed sequences per named stream, all derived from `seed`.

    Adding a stream at the end of `names` never changes the streams before it.
    """
    children = np.random.SeedSequence(seed).spawn(len(names))
    return dict(zip(names, children, strict=True))
