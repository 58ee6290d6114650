"""Every seed in paylab comes from here.

Seeds are derived by hashing a path of labels — ``(master, replicate, iteration, agent)`` —
with SHA-256 and feeding the digest to numpy's `SeedSequence`. Nothing depends
on the order in which seeds are requested, on how work is split across workers, or on a
global RNG; the replicate index is part of every path, so replicates are independent.

Example:
    >>> s1 = derive_seed(42, "replicate", 0, "iteration", 3, "agent", "BANK_A", "sample", 7)
    >>> s1 == derive_seed(42, "replicate", 0, "iteration", 3, "agent", "BANK_A", "sample", 7)
    True
"""

from __future__ import annotations

import hashlib

import numpy as np

SEED_BITS = 63


def derive_seed(*path: object) -> int:
    """A 63-bit seed for the label ``path`` (stable across machines and Python versions)."""
    text = ":".join(str(p) for p in path)
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - SEED_BITS)


def generator(seed: int) -> np.random.Generator:
    """A numpy generator for ``seed`` (PCG64 through `SeedSequence`)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))


def replicate_seed(master: int, replicate: int) -> int:
    return derive_seed(master, "replicate", replicate)


def iteration_seed(master: int, replicate: int, iteration: int) -> int:
    """Seed of an iteration's context day (shared by all agents of that iteration)."""
    return derive_seed(master, "replicate", replicate, "iteration", iteration)


def bootstrap_seed(master: int, replicate: int, iteration: int, agent: str) -> int:
    """Seed of the stream one agent's bootstrap samples are drawn from in one iteration."""
    return derive_seed(master, "replicate", replicate, "iteration", iteration, "agent", agent, "bootstrap")


def reference_seed(master: int, replicate: int, sample: int) -> int:
    """Seed of one sample of the fixed reference set (the same in every iteration)."""
    return derive_seed(master, "replicate", replicate, "reference", sample)
