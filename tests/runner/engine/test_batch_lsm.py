"""The batch LSM's vectorised cycle search lists exactly the cycles of `runner.engine.lsm.cycles`,
in the same order, for every sample of a batch (the order decides which cycles settle)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from runner.engine.batch_lsm import cycle_list
from tests.runner.engine.strategies import engine_settings


@st.composite
def flow_batches(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    """Queue-2 flows ``[sample, sender, receiver]`` (no self-payments; ties in value common),
    a mask of the samples searched, and a maximum cycle length."""
    n_samples, n_agents = draw(st.integers(1, 4)), draw(st.integers(2, 7))
    density = draw(st.floats(0.1, 1.0))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    values = rng.choice(np.array([1, 2, 5, 100, 101]), size=(n_samples, n_agents, n_agents))
    flow = np.where(rng.random((n_samples, n_agents, n_agents)) < density, values, 0)
    flow[:, np.arange(n_agents), np.arange(n_agents)] = 0
    mask = np.array(draw(st.lists(st.booleans(), min_size=n_samples, max_size=n_samples)))
    return flow.astype(np.int64), mask, draw(st.integers(3, 6))


@engine_settings(200)
@given(case=flow_batches())
def test_vectorised_cycle_search_equals_the_shared_order(case: tuple[np.ndarray, np.ndarray, int]) -> None:
    flow, mask, max_length = case
    simple = cycle_list(flow, mask, max_length, fast=False)
    fast = cycle_list(flow, mask, max_length, fast=True)
    for got, want in zip(fast, simple, strict=True):
        np.testing.assert_array_equal(got, want)


def test_both_orientations_of_a_triangle_are_listed() -> None:
    """SimCash finds only u→v→w→u with u<v<w; the spec settles both orientations."""
    flow = np.zeros((1, 3, 3), dtype=np.int64)
    for a, b in ((0, 1), (1, 2), (2, 0), (0, 2), (2, 1), (1, 0)):
        flow[0, a, b] = 10
    sample, nodes, length = cycle_list(flow, np.array([True]), 4, fast=True)
    assert sample.tolist() == [0, 0]
    assert [tuple(n[:k]) for n, k in zip(nodes.tolist(), length.tolist(), strict=True)] == [(0, 1, 2), (0, 2, 1)]


@engine_settings(200)
@given(case=flow_batches(), seed=st.integers(0, 2**32 - 1))
def test_pruned_search_drops_exactly_the_cycles_a_bank_cannot_pay(
    case: tuple[np.ndarray, np.ndarray, int], seed: int
) -> None:
    """With ``headroom`` the search leaves out the cycles in which some bank's net position
    p is ≤ 0 and below −headroom, and keeps the others in order."""
    flow, mask, max_length = case
    headroom = np.random.default_rng(seed).choice(np.array([-5, 0, 1, 4, 100, 10**6]), size=flow.shape[:2])
    sample, nodes, length = cycle_list(flow, mask, max_length, fast=False)
    keep = []
    for s, row, k in zip(sample.tolist(), nodes.tolist(), length.tolist(), strict=True):
        cyc = row[:k]
        positions = [flow[s, cyc[i - 1], b] - flow[s, b, cyc[(i + 1) % k]] for i, b in enumerate(cyc)]
        keep.append(all(p > 0 or p >= -headroom[s, b] for p, b in zip(positions, cyc, strict=True)))
    pruned = cycle_list(flow, mask, max_length, fast=True, headroom=headroom)
    for got, want in zip(pruned, (sample[keep], nodes[keep], length[keep]), strict=True):
        np.testing.assert_array_equal(got, want)
