"""The states a run goes through and the reasons it stops iterating, as `StrEnum`s.

Both are written as their plain string values (events, JSON status files, Parquet columns),
and compare equal to them, so rows read back as strings still match the members.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run is: a sweep's status records and ``runs.status`` hold one of the first four."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    #: an outcome only, never stored: a resumed sweep found the run already done
    SKIPPED = "skipped"


#: The statuses a run's record may hold.
STORED_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.DONE, RunStatus.FAILED)


class StopReason(StrEnum):
    """Why a run stopped iterating (``experiment_end``'s and ``runs.stop_reason``)."""

    MAX_ITERATIONS = "max_iterations"
    CONVERGED = "converged"
    BUDGET = "budget"  # the sweep's LLM spend limit (`sweep.limits`)
