"""Copies: models that hold one set of weights in several files (a conversion, a quantization).

Weights a few rounding errors apart (structural cost below `COPY_NEAR`) are copies of one model: an
HF checkpoint and its GGUF conversions, a float GGUF and the types quantized from it. Where no weights
compare, near-identical behaviour (functional cost below it; on the zoo f16 and q8_0 copies sit at
0.000-0.011, fine-tunes at 0.39 and more) makes copies the same way. Distances cannot
tell copies apart as parents — for a child made from one of them, the others sit as close up to the
rounding noise of the child's own making (a q4_0 is nearer the f32 checkpoint than the f16 GGUF it was
quantized from about as often as not). So within a class of copies the choice follows how people make
files, deterministically (`preference`):
- training keeps its parent's number format (a bf16 base gives bf16 fine-tunes): a child takes the
  copy of its own format and precision first;
- training and converting start from the checkpoint: otherwise a fine-tune, an adapter, a merge, and
  the types llama.cpp's converter writes straight from a checkpoint (f32, f16, bf16, q8_0) take the HF
  folder first, then the most precise copy;
- llama.cpp's quantize tool works from a float GGUF: a file it wrote takes the float GGUF whose
  metadata it carries (the tool copies its input's metadata but for the file type: two converters
  write different keys), then the one nearest above its precision. Its tensor order tells
  (`ingest.weights.gguf_writer`: the quantize tool writes its loader's order, the converter the
  checkpoint's), else its type (q6_k and below only the quantize tool writes); a file the converter
  wrote takes the checkpoint.
A class's source is its HF folder (else its most precise copy, then the earliest); the other members
are copies of it, never a family's root while it is present (`copy_root_penalty`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kb.lineage.evidence import ModelEvidence, precision_rank

COPY_NEAR = 0.02
"""Structural cost (1 = unrelated) under which two models hold the same weights up to rounding."""
QUANTIZE_TOOL_RANK = 5
"""Precision ranks up to this (q6_k and below) come from llama.cpp's quantize tool, not its converter."""
PREFERENCE_STEP = 1e-6
"""What one place further in the preference order costs (far below any real difference of costs)."""


def copy_classes(cost: np.ndarray, decisive: np.ndarray, evs: Sequence[ModelEvidence]) -> np.ndarray:
    """Class label per model: pairs within `COPY_NEAR` of each other by a `decisive` cost (a structural
    channel's, or a functional one's where no weights compare) joined nearest first; labels are the
    smallest member index.

    Two checkpoints (HF folders) of one precision never join one class: saving a model again in its own
    format and dtype gives the same bytes, so any difference between them is training, however small
    (a real fine-tune of a few dozen steps moves the weights less than q8_0 rounding does). Joining
    nearest first also keeps a rounded file with the checkpoint it rounds, not with a fine-tune of that
    checkpoint that happens to lie within `COPY_NEAR` of it too."""
    m = cost.shape[0]
    label = np.arange(m)
    checkpoints: list[set[int]] = [set() for _ in range(m)]  # precision ranks of the class's HF folders
    for i, e in enumerate(evs):
        if e.fmt == "hf" and (rank := _rank(e)) >= 0:
            checkpoints[i].add(rank)

    def find(i: int) -> int:
        while label[i] != i:
            label[i] = label[label[i]]
            i = label[i]
        return i

    close = decisive & (cost < COPY_NEAR)
    pairs = sorted(zip(*np.nonzero(np.triu(close, 1))), key=lambda ij: (cost[ij], ij))
    for i, j in pairs:
        a, b = find(int(i)), find(int(j))
        if a != b and not checkpoints[a] & checkpoints[b]:
            keep, gone = min(a, b), max(a, b)
            label[gone] = keep
            checkpoints[keep] |= checkpoints[gone]
    return np.array([find(i) for i in range(m)])


def _rank(e: ModelEvidence) -> int:
    rank = precision_rank(e.precision)
    return -1 if rank is None else rank


def source_order(members: Sequence[int], evs: Sequence[ModelEvidence]) -> list[int]:
    """Members from the likeliest source on: the HF folder, then the most precise, then the earliest."""
    return sorted(members, key=lambda i: (evs[i].fmt != "hf", -_rank(evs[i]), evs[i].released or "9999", i))


def writer(child: ModelEvidence) -> str | None:
    """Which llama.cpp tool made the file `child`: "quantize" (from a GGUF) or "convert" (from a
    checkpoint), as its tensor order says (`ModelEvidence.made_by`), else as its type says (q6_k
    and below only the quantize tool writes); None when neither tells."""
    if child.fmt == "hf":
        return None
    if child.made_by in ("quantize", "convert"):
        return child.made_by
    return "quantize" if 0 <= _rank(child) <= QUANTIZE_TOOL_RANK else None


def _same_metadata(child: ModelEvidence, source: ModelEvidence) -> bool:
    """The quantize tool copies the metadata of the file it reads: `child` carries `source`'s."""
    return child.metadata_digest is not None and child.metadata_digest == source.metadata_digest


def _float_ggufs(child: ModelEvidence, members: Sequence[int], evs: Sequence[ModelEvidence]) -> list[int]:
    """What the quantize tool could have read: GGUFs of a float type above the child's precision."""
    floor = max(QUANTIZE_TOOL_RANK + 1, _rank(child))
    return [i for i in members if evs[i].fmt != "hf" and _rank(evs[i]) > floor]


def preference(child: ModelEvidence, members: Sequence[int], evs: Sequence[ModelEvidence],
               copy: bool = False) -> list[int]:
    """The order in which `child` takes its parent among copies of one model (module docstring);
    `copy`: the child is itself one of these copies (then no file of its own format and precision is
    its source: nobody converts a q8_0 GGUF into another q8_0 GGUF)."""
    order = source_order(members, evs)
    rank = _rank(child)
    tool = writer(child)
    if tool == "quantize":
        first = _float_ggufs(child, order, evs)  # f16, bf16, f32, ...
        first.sort(key=lambda i: (not _same_metadata(child, evs[i]), _rank(evs[i]), i))  # its own, the nearest above
    elif tool == "convert":
        first = [i for i in order if evs[i].fmt == "hf"]  # the checkpoint
    elif copy:
        first = []
    else:
        first = [i for i in order if _rank(evs[i]) == rank >= 0 and evs[i].fmt == child.fmt]
    return first + [i for i in order if i not in first]


def plausible_sources(child: ModelEvidence, members: Sequence[int], evs: Sequence[ModelEvidence]) -> list[int]:
    """The copies (`members`, the child's own class without it) that the way files are made leaves
    possible as the source of the copy `child`: its weights cannot tell them apart, so an edge to any
    one of them is a guess among these. The quantize tool reads a float GGUF; the converter reads the
    checkpoint; where neither is known (a q8_0 or f16 file whose tensor order was not recorded) either
    could have made it; nothing is made from a file of its own type or of lower precision."""
    tool = writer(child)
    if tool == "quantize" and (floats := _float_ggufs(child, members, evs)):
        return [i for i in floats if _same_metadata(child, evs[i])] or floats
    if tool == "convert" and (checkpoints := [i for i in members if evs[i].fmt == "hf"]):
        return checkpoints
    rank = _rank(child)
    return [i for i in members if _rank(evs[i]) > rank or (evs[i].fmt != child.fmt and _rank(evs[i]) >= rank)]


def equalise(edge: np.ndarray, allowed: np.ndarray, classes: np.ndarray,
             evs: Sequence[ModelEvidence]) -> np.ndarray:
    """Edge costs where a child pays the same for every copy of one model (a copy, for the others of
    its class), plus the (tiny) price of its place in `preference`.

    `preference` over the copies a child may use is its order over all of them with the others left
    out (each step filters or sorts by a key of one member), and it depends on the child only through
    its writer, precision, format, metadata digest (for the quantize tool's files) and whether it is a
    copy itself: one order per such kind of child."""
    out = edge.copy()
    kind = [(tool := writer(e), _rank(e), e.fmt, e.metadata_digest if tool == "quantize" else None) for e in evs]
    for label in np.unique(classes):
        members = [int(i) for i in np.flatnonzero(classes == label)]
        if len(members) < 2:
            continue
        usable = allowed[:, members] & np.isfinite(edge[:, members])
        usable[members, np.arange(len(members))] = False  # no copy is its own parent
        kinds: dict[tuple, list[int]] = {}
        for c in np.flatnonzero(usable.sum(axis=1) >= 2):
            kinds.setdefault((*kind[c], bool(classes[c] == label)), []).append(int(c))
        for children in kinds.values():
            order = preference(evs[children[0]], members, evs, copy=bool(classes[children[0]] == label))
            columns = [members.index(p) for p in order]
            rows = np.array(children)
            use = usable[np.ix_(rows, columns)]
            best = np.where(use, edge[np.ix_(rows, order)], np.inf).min(axis=1)
            place = np.cumsum(use, axis=1) - 1
            priced = best[:, None] * (1.0 + PREFERENCE_STEP * place)
            out[np.ix_(rows, order)] = np.where(use, priced, out[np.ix_(rows, order)])
    return out


def from_own_copy(classes: np.ndarray, evs: Sequence[ModelEvidence]) -> np.ndarray:
    """[c, p]: c is the source of its copy class and p another member (files are made from the
    checkpoint, not the other way round)."""
    out = np.zeros((len(evs), len(evs)), bool)
    for label in np.unique(classes):
        members = [int(i) for i in np.flatnonzero(classes == label)]
        if len(members) > 1:
            source = source_order(members, evs)[0]
            out[source, [i for i in members if i != source]] = True
    return out


def copy_root_penalty(classes: np.ndarray, evs: Sequence[ModelEvidence]) -> np.ndarray:
    """1 for every copy whose class holds its source (a conversion is not where a family starts)."""
    out = np.zeros(len(evs))
    for label in np.unique(classes):
        members = [int(i) for i in np.flatnonzero(classes == label)]
        if len(members) > 1:
            out[source_order(members, evs)[1:]] = 1.0
    return out
