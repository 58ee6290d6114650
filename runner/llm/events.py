"""One agent's view of an event trace: isolation filter and compact, capped text lines.

Isolation is enforced here by whitelisting, not blacklisting: an event survives only if the
agent is a party to it, and only the fields that agent may know are copied. Anything the
engine adds later (balances, queue sizes, other agents' costs) is therefore dropped until it
is deliberately allowed. In particular:

* a counterparty's payment to this agent is shown only once it settles (its arrival sits in
  the counterparty's queue, which this agent must not see);
* an offsetting event keeps the pair of banks but not the gross or net amounts (those reveal
  the counterparty's queue); the settlements it produces carry this agent's own amounts;
* the end-of-day marker keeps the day but not the system-wide count of unsettled payments;
* an LSM cycle keeps only the ring's size and this agent's two neighbours in it (who paid it
  and whom it paid — what its own settlements show anyway), not the other links or the value;
* collateral posts, withdrawals, timed withdrawals and changes of the unsecured cap
  (``CollateralAdjustment`` events) go to the bank they concern only;
* a ``Split`` (the parts' ids and amounts, the friction) and the parts' own arrivals (which
  name the split payment as ``parent``) go to the splitting bank only; a part's settlement
  reaches its receiver like any payment's, without the parent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from runner.money import format_cents

# event type -> (key naming the owning agent, fields the owner may see)
_OWNED: dict[str, tuple[str, tuple[str, ...]]] = {
    "Arrival": ("sender", ("tx", "sender", "receiver", "amount", "deadline", "priority", "parent")),
    "Split": ("sender", ("tx", "sender", "action", "children", "amounts", "friction")),
    "PolicyDecision": ("agent", ("tx", "agent", "action", "node")),
    "BankDecision": ("agent", ("agent", "action", "node")),
    "QueuedRtgs": ("sender", ("tx", "sender", "amount", "reason")),
    "Overdue": ("sender", ("tx", "sender", "penalty")),
    "EodPenalty": ("sender", ("tx", "sender", "penalty")),
    "ScheduledSettlementFailed": ("sender", ("sender", "receiver", "amount")),
    "CostAccrual": (
        "agent",
        (
            "agent",
            "liquidity_opportunity",
            "overdraft",
            "delay",
            "collateral",
            "split_friction",
            "deadline_penalty",
            "eod_penalty",
        ),
    ),
    "CollateralPost": ("agent", ("agent", "amount", "tree", "posted", "withdraw_at")),
    "CollateralWithdraw": ("agent", ("agent", "amount", "tree", "posted")),
    "CollateralTimerWithdraw": ("agent", ("agent", "amount", "requested", "posted")),
    "CollateralAdjustment": ("agent", ("agent", "delta", "unsecured_cap")),
}
_COST_KEYS = _OWNED["CostAccrual"][1][1:]

# Lower ranks survive the line cap first; ties keep chronological order.
_RANK = {
    "Overdue": 0,
    "EodPenalty": 0,
    "QueuedRtgs": 0,
    "ScheduledSettlementFailed": 0,
    "EndOfDay": 0,
    "CostAccrual": 1,
    "BankDecision": 1,
    "LsmOffset": 1,
    "Settlement": 2,
    "Arrival": 2,
    "DirectTransfer": 2,
    "PolicyDecision": 3,
    "LsmCycle": 1,
    "CollateralPost": 1,
    "CollateralWithdraw": 1,
    "CollateralTimerWithdraw": 1,
    "CollateralAdjustment": 0,
    "Split": 1,
}
# why a payment could not settle at once, when the engine says (limits: issue #10)
_QUEUED_WHY = {
    "limit": "over your outflow limit",
    "bilateral_limit": "over your limit to that bank",
    "multilateral_limit": "over your total outflow limit",
}
_PATHS = {
    "rtgs": "at once",
    "queue2": "from the central queue",
    "offset": "by offsetting",
    "cycle": "in an LSM cycle",
    "scheduled": "as scheduled",
}


def _pick(event: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"tick": event.get("tick"), "type": event.get("type")}
    out.update({k: event[k] for k in keys if k in event})
    return out


def _visible(event: Mapping[str, Any], agent_id: str) -> dict[str, Any] | None:
    kind = event.get("type")
    if not isinstance(kind, str):
        return None
    keys: tuple[str, ...] | None = None  # None: the agent may not see this event
    if kind in _OWNED:
        owner_key, owned = _OWNED[kind]
        keys = owned if event.get(owner_key) == agent_id else None
    elif kind == "Settlement":
        if event.get("sender") == agent_id:
            keys = ("tx", "sender", "receiver", "amount", "path")
        elif event.get("receiver") == agent_id:
            keys = ("tx", "sender", "receiver", "amount")
    elif kind == "DirectTransfer":
        if agent_id in (event.get("sender"), event.get("receiver")):
            keys = ("sender", "receiver", "amount")
    elif kind == "LsmOffset":
        agents = event.get("agents")
        if isinstance(agents, list | tuple) and agent_id in agents:
            keys = ("agents",)
    elif kind == "EndOfDay":
        keys = ("day",)
    elif kind == "LsmCycle":
        return _cycle_view(event, agent_id)
    return None if keys is None else _pick(event, keys)  # unknown types are never shown


def _cycle_view(event: Mapping[str, Any], agent_id: str) -> dict[str, Any] | None:
    """A cycle as one member sees it: the ring's size and its own neighbours in the ring
    (an already reduced view, which names its member, passes again: idempotence)."""
    ring = event.get("agents")
    if ring is None and event.get("agent") == agent_id:
        return _pick(event, ("agent", "banks", "paid_by", "pays"))
    if not isinstance(ring, list | tuple) or agent_id not in ring or len(ring) < 2:
        return None
    i = list(ring).index(agent_id)
    return {
        "tick": event.get("tick"),
        "type": "LsmCycle",
        "agent": agent_id,
        "banks": len(ring),
        "paid_by": ring[i - 1],
        "pays": ring[(i + 1) % len(ring)],
    }


def filter_events_for_agent(events: Iterable[Mapping[str, Any]], agent_id: str) -> tuple[dict[str, Any], ...]:
    """The events ``agent_id`` may see, each reduced to the fields it may know.

    Keeps the agent's own arrivals, payment and bank decisions, central-queue entries,
    settlements where it is sender or receiver, its own cost accruals and penalties,
    offsetting and cycles it took part in, its own collateral moves and credit-cap changes,
    its own splits, and end-of-day markers. Idempotent.

    Example:
        >>> filter_events_for_agent([{"tick": 0, "type": "CostAccrual", "agent": "B",
        ...                           "delay": 5}], "A")
        ()
    """
    kept = (_visible(e, agent_id) for e in events)
    return tuple(e for e in kept if e is not None)


# ---------------------------------------------------------------------- text


def _costs_text(event: Mapping[str, Any]) -> str:
    parts = [f"{k.replace('_', ' ')} {format_cents(float(event[k]))}" for k in _COST_KEYS if event.get(k)]
    return ", ".join(parts) or "none"


def _money(e: Mapping[str, Any], key: str = "amount") -> str:
    return format_cents(float(e.get(key, 0)))


def _tx(e: Mapping[str, Any]) -> str:
    return "payment" if e.get("tx") is None else f"tx{e.get('tx')}"


def _settlement(e: Mapping[str, Any], agent_id: str) -> str:
    if e.get("sender") == agent_id:
        how = _PATHS.get(str(e.get("path")), str(e.get("path")))
        return f"{_tx(e)} to {e.get('receiver')} settled {how}, {_money(e)}"
    return f"received {_tx(e)} from {e.get('sender')}, {_money(e)}"


def _transfer(e: Mapping[str, Any], agent_id: str) -> str:
    if e.get("sender") == agent_id:
        return f"direct transfer to {e.get('receiver')}, {_money(e)}"
    return f"direct transfer from {e.get('sender')}, {_money(e)}"


def _offset(e: Mapping[str, Any], agent_id: str) -> str:
    others = [str(a) for a in e.get("agents", ()) if a != agent_id]
    return f"bilateral offset with {', '.join(others)}"


def _cycle(e: Mapping[str, Any], _agent_id: str) -> str:
    return f"LSM cycle of {e.get('banks')} banks settled: paid by {e.get('paid_by')}, paying {e.get('pays')}"


def _post(e: Mapping[str, Any], _agent_id: str) -> str:
    text = f"collateral posted {_money(e)} (now {_money(e, 'posted')})"
    return text if e.get("withdraw_at") is None else f"{text}, back at t{e.get('withdraw_at')}"


def _cap_change(e: Mapping[str, Any], _agent_id: str) -> str:
    delta = int(e.get("delta", 0))
    sign = "+" if delta >= 0 else "-"
    return f"unsecured credit cap changed by {sign}{format_cents(abs(delta))} (now {_money(e, 'unsecured_cap')})"


def _arrival(e: Mapping[str, Any], _agent_id: str) -> str:
    what = "new payment" if e.get("parent") is None else f"part of tx{e.get('parent')},"
    return (
        f"{what} {_tx(e)} to {e.get('receiver')}, {_money(e)}, "
        f"deadline t{e.get('deadline')}, priority {e.get('priority')}"
    )


_SPLIT_PARTS_SHOWN = 4  # a split may have up to MAX_SPLIT_PARTS parts: keep the line short


def _split(e: Mapping[str, Any], _agent_id: str) -> str:
    children, amounts = list(e.get("children", ())), list(e.get("amounts", ()))
    parts = ", ".join(
        f"tx{c} {format_cents(float(a))}" for c, a in zip(children[:_SPLIT_PARTS_SHOWN], amounts, strict=False)
    )
    if len(children) > _SPLIT_PARTS_SHOWN:
        parts += f", … {len(children) - _SPLIT_PARTS_SHOWN} more"
    return f"{_tx(e)} split ({e.get('action')}) into {len(children)} parts: {parts}; friction {_money(e, 'friction')}"


_LINES: dict[str, Callable[[Mapping[str, Any], str], str]] = {
    "Arrival": _arrival,
    "Split": _split,
    "PolicyDecision": lambda e, _a: f"{_tx(e)}: {e.get('action')} (node {e.get('node')})",
    "BankDecision": lambda e, _a: f"bank tree: {e.get('action')} (node {e.get('node')})",
    "QueuedRtgs": lambda e, _a: (
        f"{_tx(e)} queued centrally, {_money(e)} ({_QUEUED_WHY.get(str(e.get('reason')), 'not enough liquidity')})"
    ),
    "Settlement": _settlement,
    "Overdue": lambda e, _a: f"{_tx(e)} missed its deadline: penalty {_money(e, 'penalty')}",
    "EodPenalty": lambda e, _a: f"{_tx(e)} unsettled at end of day: penalty {_money(e, 'penalty')}",
    "EndOfDay": lambda e, _a: f"end of day {e.get('day')}",
    "LsmOffset": _offset,
    "DirectTransfer": _transfer,
    "ScheduledSettlementFailed": lambda e, _a: (
        f"scheduled payment to {e.get('receiver')} failed, {_money(e)} (not enough liquidity)"
    ),
    "CostAccrual": lambda e, _a: f"costs: {_costs_text(e)}",
    "LsmCycle": _cycle,
    "CollateralPost": _post,
    "CollateralWithdraw": lambda e, _a: f"collateral withdrawn {_money(e)} (now {_money(e, 'posted')})",
    "CollateralTimerWithdraw": lambda e, _a: (
        f"timed collateral withdrawal {_money(e)} of {_money(e, 'requested')} (now {_money(e, 'posted')})"
    ),
    "CollateralAdjustment": _cap_change,
}


# Events repeated every tick with the same content are shown once for the whole run of ticks.
_RUN_KEYS: dict[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]] = {
    "CostAccrual": lambda e: tuple(e.get(k, 0) for k in _COST_KEYS),
    "BankDecision": lambda e: (e.get("action"), e.get("node")),
}


def _run_line(run: Sequence[Mapping[str, Any]], agent_id: str) -> str:
    first, last = run[0], run[-1]
    text = _LINES[first["type"]](first, agent_id)
    if len(run) == 1:
        return f"t{first['tick']}  {text}"
    return f"t{first['tick']}-t{last['tick']}  every tick, {text}"


def _entries(events: Sequence[Mapping[str, Any]], agent_id: str) -> list[tuple[int, int, str, str]]:
    """(position, rank, type, text) per line, runs of repeated per-tick events merged."""
    out: list[tuple[int, int, str, str]] = []
    runs: dict[str, tuple[int, list[Mapping[str, Any]]]] = {}

    def flush(kind: str) -> None:
        pos, run = runs.pop(kind)
        out.append((pos, _RANK[kind], kind, _run_line(run, agent_id)))

    for pos, e in enumerate(events):
        kind = e["type"]
        if kind in _RUN_KEYS:
            if kind in runs:
                previous = runs[kind][1][-1]
                if e["tick"] == previous["tick"] + 1 and _RUN_KEYS[kind](e) == _RUN_KEYS[kind](previous):
                    runs[kind][1].append(e)
                    continue
                flush(kind)
            runs[kind] = (pos, [e])
            continue
        out.append((pos, _RANK.get(kind, 2), kind, f"t{e['tick']}  {_LINES[kind](e, agent_id)}"))
    for kind in list(runs):
        flush(kind)
    return sorted(out)


_TYPE_WORDS = {
    "PolicyDecision": "payment decisions",
    "Arrival": "arrivals",
    "Settlement": "settlements",
    "CostAccrual": "cost lines",
    "BankDecision": "bank decisions",
    "LsmOffset": "offsets",
    "DirectTransfer": "transfers",
    "LsmCycle": "cycles",
    "CollateralPost": "collateral posts",
    "CollateralWithdraw": "collateral withdrawals",
    "CollateralTimerWithdraw": "timed withdrawals",
    "CollateralAdjustment": "credit-cap changes",
    "Split": "splits",
}


def format_events(events: Iterable[Mapping[str, Any]], agent_id: str, max_lines: int = 60) -> list[str]:
    """Compact lines of ``agent_id``'s view of ``events``, at most ``max_lines`` of them.

    The events are filtered first (`filter_events_for_agent`). When there are too many lines,
    penalties, queueing and end-of-day lines are kept first, then costs, settlements and
    arrivals, then payment decisions; the kept lines stay in time order and a final note
    says what was left out.
    """
    visible = filter_events_for_agent(events, agent_id)
    entries = _entries(visible, agent_id)
    if len(entries) <= max_lines:
        return [text for _pos, _rank, _kind, text in entries]
    chosen = sorted(sorted(entries, key=lambda x: (x[1], x[0]))[:max_lines])
    kept = {pos for pos, *_ in chosen}
    dropped = Counter(kind for pos, _rank, kind, _text in entries if pos not in kept)
    detail = ", ".join(f"{n} {_TYPE_WORDS.get(k, k)}" for k, n in sorted(dropped.items()))
    lines = [text for _pos, _rank, _kind, text in chosen]
    lines.append(f"(… {sum(dropped.values())} more lines not shown: {detail})")
    return lines
