"""Rooting an unrooted tree (neighbor joining gives one): at the midpoint, or on a chosen leaf's edge.

NJ returns an unrooted tree written as a Newick trifurcation. Questions about time and ancestry need a
root, and the three usual choices are offered (`kb.lineage.kbtree` picks between them):

- midpoint: the middle of the longest leaf-to-leaf path (Farris 1972); assumes roughly equal rates;
- outgroup: the middle of the branch leading to a leaf known to be outside the rest;
- earliest release: the outgroup is the model released first (models as leaves: the oldest one
  is the best stand-in for the common ancestor we can name).

Three layers, as for NJ: `parse_newick` reads text into an `Unrooted` adjacency list; the rooting
functions work on it (O(n)); `RootedTree` holds the result as parent/children arrays, writes Newick and
gives the leaf order and root-to-node distances that drawings use. Tests compare midpoint rooting
with Bio.Phylo's `root_at_midpoint`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from kb.errors import InputError
from kb.lineage.nj import newick_name


@dataclass
class Unrooted:
    """Nodes (leaves carry names, internal nodes "") and undirected weighted edges."""

    names: list[str] = field(default_factory=list)
    adjacent: list[list[tuple[int, float]]] = field(default_factory=list)

    def add(self, name: str = "") -> int:
        self.names.append(name)
        self.adjacent.append([])
        return len(self.names) - 1

    def link(self, a: int, b: int, length: float) -> None:
        self.adjacent[a].append((b, length))
        self.adjacent[b].append((a, length))

    def leaves(self) -> list[int]:
        return [i for i, found in enumerate(self.adjacent) if len(found) <= 1 and self.names[i]]

    def leaf(self, name: str) -> int:
        for i in self.leaves():
            if self.names[i] == name:
                return i
        raise InputError(f"no leaf {name!r} in the tree")


def parse_newick(text: str) -> Unrooted:
    """An unrooted tree from Newick (quoted labels with '' for ', branch lengths; missing lengths are 0).

    >>> t = parse_newick("(a:1,('b c':2,d:3):4,e:5);")
    >>> sorted(t.names[i] for i in t.leaves())
    ['a', 'b c', 'd', 'e']
    """
    tree = Unrooted()
    stack: list[int] = []
    current = -1  # the node the next label or length belongs to
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "(":
            node = tree.add()
            if stack:
                tree.link(stack[-1], node, 0.0)
            stack.append(node)
            current = -1
            i += 1
        elif c == ",":
            current = -1
            i += 1
        elif c == ")":
            current = stack.pop()
            i += 1
        elif c == ":":
            j = i + 1
            while j < n and text[j] not in ",();":
                j += 1
            _set_length(tree, current, stack, float(text[i + 1 : j] or 0.0))
            i = j
        elif c == ";":
            break
        elif c.isspace():
            i += 1
        else:
            label, i = _label(text, i)
            if current == -1:  # a leaf
                current = tree.add(label)
                if stack:
                    tree.link(stack[-1], current, 0.0)
            else:  # the label of the node just closed
                tree.names[current] = label
    if stack:
        raise InputError("unbalanced parentheses in Newick")
    return tree


def _label(text: str, i: int) -> tuple[str, int]:
    if text[i] == "'":
        out, i = [], i + 1
        while i < len(text):
            if text[i] == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    out.append("'")
                    i += 2
                    continue
                return "".join(out), i + 1
            out.append(text[i])
            i += 1
        raise InputError("unterminated quoted label in Newick")
    j = i
    while j < len(text) and text[j] not in ",():;":
        j += 1
    return text[i:j].strip(), j


def _set_length(tree: Unrooted, node: int, stack: list[int], length: float) -> None:
    """Set the length of the edge from `node` to its parent (the enclosing open node)."""
    if node < 0 or not stack:
        return  # a length on the outermost node: no edge to carry it
    parent = stack[-1]
    tree.adjacent[node] = [(b, length if b == parent else w) for b, w in tree.adjacent[node]]
    tree.adjacent[parent] = [(b, length if b == node else w) for b, w in tree.adjacent[parent]]


@dataclass
class RootedTree:
    """A rooted tree over models as leaves: parent per node (-1 at the root), branch length to it."""

    names: list[str]
    parent: list[int]
    length: list[float]
    root: int
    how: str
    """How it was rooted, in words (shown in figures and reports)."""

    def children(self) -> list[list[int]]:
        kids: list[list[int]] = [[] for _ in self.names]
        for node, up in enumerate(self.parent):
            if up >= 0:
                kids[up].append(node)
        return kids

    def preorder(self, ladderize: bool = True) -> list[int]:
        """Nodes root first; with `ladderize`, smaller clades first (then by their first leaf name)."""
        kids = self.children()
        if ladderize:
            size, first = self._clade_keys(kids)
            for found in kids:
                found.sort(key=lambda c: (size[c], first[c]))
        order, stack = [], [self.root]
        while stack:
            node = stack.pop()
            order.append(node)
            stack.extend(reversed(kids[node]))
        return order

    def _clade_keys(self, kids: list[list[int]]) -> tuple[list[int], list[str]]:
        size = [0] * len(self.names)
        first = [""] * len(self.names)
        order, stack = [], [self.root]
        while stack:
            node = stack.pop()
            order.append(node)
            stack.extend(kids[node])
        for node in reversed(order):
            if not kids[node]:
                size[node], first[node] = 1, self.names[node]
            else:
                size[node] = sum(size[c] for c in kids[node])
                first[node] = min(first[c] for c in kids[node])
        return size, first

    def leaves(self) -> list[int]:
        """Leaves in drawing order (ladderized preorder)."""
        kids = self.children()
        return [n for n in self.preorder() if not kids[n]]

    def depths(self) -> np.ndarray:
        """Root-to-node path length of every node."""
        depth = np.zeros(len(self.names))
        for node in self.preorder(ladderize=False):
            if self.parent[node] >= 0:
                depth[node] = depth[self.parent[node]] + self.length[node]
        return depth

    def newick(self) -> str:
        """Rooted Newick with branch lengths; labels quoted where Newick needs it."""
        kids = self.children()
        text: dict[int, str] = {}
        for node in reversed(self.preorder()):
            inner = ",".join(text.pop(c) for c in kids[node])
            label = newick_name(self.names[node]) if self.names[node] else ""
            length = f":{max(self.length[node], 0.0):.6g}" if self.parent[node] >= 0 else ""
            text[node] = (f"({inner})" if inner else "") + label + length
        return text[self.root] + ";"


def root_on_edge(tree: Unrooted, a: int, b: int, from_a: float, how: str) -> RootedTree:
    """Insert a root on edge a–b at distance `from_a` from a, and hang everything from it."""
    total = next(w for x, w in tree.adjacent[a] if x == b)
    from_a = min(max(from_a, 0.0), total)
    names = list(tree.names) + [""]
    root = len(names) - 1
    parent = [-1] * len(names)
    length = [0.0] * len(names)
    parent[a], length[a] = root, from_a
    parent[b], length[b] = root, total - from_a
    queue = deque([a, b])
    seen = {a, b, root}
    while queue:
        node = queue.popleft()
        for nxt, w in tree.adjacent[node]:
            if nxt not in seen:
                seen.add(nxt)
                parent[nxt], length[nxt] = node, w
                queue.append(nxt)
    return _drop_unary(RootedTree(names, parent, length, root, how))


def _drop_unary(tree: RootedTree) -> RootedTree:
    """Internal nodes with a single child (Newick's outer node after rooting) are merged away."""
    kids = tree.children()
    parent, length = list(tree.parent), list(tree.length)
    for node in tree.preorder(ladderize=False):
        if node != tree.root and len(kids[node]) == 1 and not tree.names[node]:
            (child,) = kids[node]
            parent[child], length[child] = parent[node], length[node] + length[child]
            kids[parent[node]] = [child if c == node else c for c in kids[parent[node]]]
            parent[node] = -2  # removed
    keep = [i for i, p in enumerate(parent) if p != -2]
    index = {old: new for new, old in enumerate(keep)}
    return RootedTree([tree.names[i] for i in keep], [index[parent[i]] if parent[i] >= 0 else -1 for i in keep],
                      [length[i] for i in keep], index[tree.root], tree.how)


def _farthest(tree: Unrooted, start: int) -> tuple[int, list[float], list[int]]:
    """The leaf farthest from `start` (ties: the smallest name), distances and BFS predecessors."""
    dist = [float("inf")] * len(tree.names)
    prev = [-1] * len(tree.names)
    dist[start] = 0.0
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt, w in tree.adjacent[node]:
            if dist[nxt] == float("inf"):
                dist[nxt] = dist[node] + w
                prev[nxt] = node
                queue.append(nxt)
    leaves = tree.leaves()
    best = max(leaves, key=lambda i: (dist[i], _neg(tree.names[i])))
    return best, dist, prev


def _neg(name: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in name)  # a key that prefers the smaller name under max()


def root_midpoint(tree: Unrooted) -> RootedTree:
    """Root at the middle of the longest leaf-to-leaf path (two sweeps: O(n))."""
    leaves = tree.leaves()
    if len(leaves) < 2:
        return _single(tree)
    first = min(leaves, key=lambda i: tree.names[i])
    a, _, _ = _farthest(tree, first)
    b, dist, prev = _farthest(tree, a)
    half = dist[b] / 2.0
    node = b
    while prev[node] != -1 and dist[prev[node]] >= half:  # walk from b towards a until the middle
        node = prev[node]
    up = prev[node]
    if up == -1:
        return root_on_edge(tree, node, tree.adjacent[node][0][0], 0.0, "midpoint")
    return root_on_edge(tree, up, node, half - dist[up], "midpoint")


def root_outgroup(tree: Unrooted, name: str, how: str | None = None) -> RootedTree:
    """Root in the middle of the branch that leads to the leaf `name`."""
    leaf = tree.leaf(name)
    if not tree.adjacent[leaf]:
        return _single(tree)
    other, w = tree.adjacent[leaf][0]
    return root_on_edge(tree, leaf, other, w / 2.0, how or f"outgroup {name}")


def _single(tree: Unrooted) -> RootedTree:
    leaves = tree.leaves()
    return RootedTree([tree.names[leaves[0]]] if leaves else [""], [-1], [0.0], 0, "a single model")
