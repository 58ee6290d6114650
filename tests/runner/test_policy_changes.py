"""`PolicyChanges`: what a proposal changes, decided in one place for the prompt and the terminal."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from runner.experiment.display import param_changes
from runner.policy.tree import TREES
from runner.proposals import ParameterChange, PolicyChanges

NAMES = st.sampled_from(["a", "b", "c", "initial_liquidity_fraction", "urgency"])
PARAMS = st.dictionaries(NAMES, st.sampled_from([0.0, 0.25, 0.5, 1.0, 3.0]), max_size=5)
TREE_DOCS = st.dictionaries(st.sampled_from(TREES), st.sampled_from([{"action": "Release"}, {"action": "Hold"}]))


def _doc(params: dict[str, float], trees: dict[str, Any]) -> dict[str, Any]:
    return {"version": "1.0", "parameters": params, **trees}


@given(PARAMS, PARAMS, TREE_DOCS, TREE_DOCS)
def test_changes_are_exactly_the_differences(
    old_p: dict[str, float], new_p: dict[str, float], old_t: dict[str, Any], new_t: dict[str, Any]
) -> None:
    changes = PolicyChanges.between(_doc(old_p, old_t), _doc(new_p, new_t))
    names = [c.name for c in changes.parameters]
    assert set(names) == {k for k in {*old_p, *new_p} if old_p.get(k) != new_p.get(k)}
    # old document's order first, then what the proposal adds
    assert names == [k for k in [*old_p, *(k for k in new_p if k not in old_p)] if k in names]
    assert all(c == ParameterChange(c.name, old_p.get(c.name), new_p.get(c.name)) for c in changes.parameters)
    assert changes.trees == tuple(t for t in TREES if old_t.get(t) != new_t.get(t))
    # the terminal line names every change and nothing else
    line = param_changes(_doc(old_p, old_t), _doc(new_p, new_t))
    if not changes.parameters and not changes.trees:
        assert line == "same policy"
    for c in changes.parameters:
        assert (f"-{c.name}" if c.after is None else f"{c.name} ") in line


def test_no_old_policy_and_no_proposal() -> None:
    assert PolicyChanges.between(None, {"parameters": {"f": 0.5}}).parameters == (ParameterChange("f", None, 0.5),)
    assert param_changes({"parameters": {"f": 0.5}}, None) == "no valid proposal"
    assert param_changes({"parameters": {"f": 0.5, "g": 1}}, {"parameters": {"f": 0.4}, "payment_tree": {}}) == (
        "f 0.5→0.4; -g; changed payment_tree"
    )
