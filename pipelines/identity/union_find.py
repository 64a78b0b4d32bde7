"""Union-find over string nodes, for graphs small enough to group on one Python worker."""

from __future__ import annotations


class UnionFind:
    """Disjoint sets of strings; a set's root is its smallest member (string order), the same
    choice as the Spark engine's component labels (pipelines/identity/components.py)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)
