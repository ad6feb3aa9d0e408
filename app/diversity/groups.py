"""Near-duplicate groups: the connected components of exact, lexical and semantic pairs.

A group is every item linked to another by a chain of pairs: identical normalised text
(*exact*), word 3-shingle Jaccard >= 0.8 (*lexical*, :mod:`app.diversity.lexical`) or embedding
cosine >= 0.95 (*semantic*, from the neighbour pass).  ``kinds`` says which links made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.diversity.neighbours import Pairs

I64 = npt.NDArray[np.int64]

SEMANTIC_THRESHOLD = 0.95
KINDS = ("exact", "lexical", "semantic")


@dataclass(slots=True)
class DuplicateGroup:
    id: int
    members: list[int]
    """Row positions, ascending."""
    kinds: list[str]
    """The kinds of pair that link its members, in :data:`KINDS` order."""
    max_similarity: float
    """The strongest semantic link inside the group (1.0 for exact copies; 0 if none)."""


class UnionFind:
    """Disjoint sets over 0..n-1 with path halving and union by size."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]


def duplicate_groups(n: int, pairs: Mapping[str, Pairs]) -> tuple[list[DuplicateGroup], I64]:
    """Groups (ordered by their first member) and each row's group id (-1: in none)."""
    uf = UnionFind(n)
    for kind_pairs in pairs.values():
        for a, b in zip(kind_pairs.left.tolist(), kind_pairs.right.tolist(), strict=True):
            uf.union(a, b)
    touched = sorted({i for p in pairs.values() for i in (*p.left.tolist(), *p.right.tolist())})
    members: dict[int, list[int]] = {}
    for i in touched:
        members.setdefault(uf.find(i), []).append(i)
    roots = sorted(members, key=lambda r: members[r][0])
    group_of = np.full(n, -1, dtype=np.int64)
    kinds: dict[int, set[str]] = {r: set() for r in roots}
    best: dict[int, float] = dict.fromkeys(roots, 0.0)
    for kind, kind_pairs in pairs.items():
        for a, sim in zip(kind_pairs.left.tolist(), kind_pairs.sims.tolist(), strict=True):
            root = uf.find(a)
            kinds[root].add(kind)
            if kind == "exact":
                best[root] = 1.0
            elif kind == "semantic":
                best[root] = max(best[root], sim)
    groups = []
    for gid, root in enumerate(roots):
        group_of[members[root]] = gid
        ordered = [k for k in KINDS if k in kinds[root]] + sorted(kinds[root] - set(KINDS))
        groups.append(DuplicateGroup(gid, members[root], ordered, round(best[root], 4)))
    return groups, group_of
