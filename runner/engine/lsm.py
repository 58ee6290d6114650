"""The liquidity-saving mechanism's search rules: which pairs offset and which cycles are
tried, in which order (docs/engine.md, "LSM"). Pure functions over the central queue's
aggregated flows, so both engines share the order; settling is the engines' business.

Flows are aggregated per ordered pair of banks (``flows[(sender, receiver)]`` = value of all
Queue-2 payments from sender to receiver); an offset or a cycle settles *every* queued payment
on its edges, at full value.
"""

from __future__ import annotations

from collections.abc import Mapping

Flows = Mapping[tuple[int, int], int]


def offset_pairs(flows: Flows) -> list[tuple[int, int]]:
    """Pairs ``(a, b)``, ``a < b``, with queued flows both ways: largest offset
    ``min(a→b, b→a)`` first, ties by ``a`` then ``b`` (agent indices in sorted-id order)."""
    ready = sorted((-min(v, flows[(b, a)]), a, b) for (a, b), v in flows.items() if a < b and (b, a) in flows)
    return [(a, b) for _neg, a, b in ready]


def cycles(flows: Flows, max_length: int) -> list[tuple[int, ...]]:
    """Every simple directed cycle of 3..``max_length`` banks in the flow graph, in the order
    the LSM tries them.

    A cycle is written from its smallest bank index, ``(v0, v1, …, vk)`` meaning
    v0→v1→…→vk→v0; the two orientations of a ring are two different cycles and both are
    found. Order: larger total value (sum of its edges' flows) first, then fewer banks, then
    the bank sequence (lexicographic).
    """
    succ: dict[int, list[int]] = {}
    for s, r in sorted(flows):
        succ.setdefault(s, []).append(r)
    found: list[tuple[int, ...]] = []

    def extend(path: list[int]) -> None:
        start, last = path[0], path[-1]
        for nxt in succ.get(last, ()):
            if nxt == start and len(path) >= 3:
                found.append(tuple(path))
            elif nxt > start and nxt not in path and len(path) < max_length:
                path.append(nxt)
                extend(path)
                path.pop()

    for start in sorted(succ):
        extend([start])

    def key(c: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
        return (-cycle_value(c, flows), len(c), c)

    return sorted(found, key=key)


def cycle_edges(cycle: tuple[int, ...]) -> list[tuple[int, int]]:
    """The ordered pairs of ``cycle``: v0→v1, …, vk→v0."""
    return [(cycle[i], cycle[(i + 1) % len(cycle)]) for i in range(len(cycle))]


def cycle_value(cycle: tuple[int, ...], flows: Flows) -> int:
    """Gross value a cycle settles: the sum of its edges' flows."""
    return sum(flows[e] for e in cycle_edges(cycle))


def net_positions(edges: Mapping[tuple[int, int], int]) -> dict[int, int]:
    """Bank → inflow − outflow over ``edges`` (negative: the bank pays the net)."""
    net: dict[int, int] = {}
    for (s, r), value in edges.items():
        net[s] = net.get(s, 0) - value
        net[r] = net.get(r, 0) + value
    return net
