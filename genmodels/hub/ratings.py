"""Arena ratings from pairwise votes: online Elo, Bradley–Terry MLE and bootstrap confidence intervals (numpy).

A vote is ``(model_a, model_b, outcome)`` with ``outcome`` in ``left`` (``model_a`` wins), ``right`` (``model_b``
wins), ``tie`` or ``both_bad``; a tie and a both-bad vote both count as half a win for each side.

* ``elo`` — the online rating of Elo (1978, "The Rating of Chessplayers, Past and Present"): for each vote in
  order, ``E_a = 1 / (1 + 10^((R_b - R_a) / 400))`` and ``R_a' = R_a + K (S_a - E_a)`` (and symmetrically for b).
  It depends on the vote order and on K, so it is shown for reference only.
* ``bradley_terry`` — the maximum-likelihood fit of the Bradley & Terry (1952, "Rank analysis of incomplete block
  designs I") model ``P(i beats j) = p_i / (p_i + p_j)``, order-independent; this is what Chatbot Arena reports
  (Chiang et al. 2024, arXiv:2403.04132: BT MLE on the Elo scale, with bootstrap confidence intervals). With
  ``theta = ln p`` the negative log-likelihood is convex; it is minimised by Newton's method with a backtracking
  line search (exact Hessian: the comparison graph's weighted Laplacian plus the prior's diagonal).
  Prior: each model also plays ``prior`` virtual games against a fixed anchor of strength 1 (``theta = 0``), all
  of them ties, i.e. the log-prior ``prior * (log sigma(theta) + log sigma(-theta)) / 2`` per model. It keeps a
  model with only wins or only losses (or a comparison graph that is not connected) finite and pulls models with
  few votes towards the middle; with hundreds of votes its effect is negligible. Ratings are reported as
  ``base + scale * log10(p)``, shifted so that their mean is ``base``.
* ``bootstrap_intervals`` — percentile intervals of the BT ratings over ``rounds`` resamplings of the votes with
  replacement (a seeded ``numpy.random.Generator``, so the same seed gives the same intervals); an interval is
  widened to contain the point estimate when the bootstrap distribution is very skewed.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

Vote = tuple[str, str, str]
_SCORE = {"left": 1.0, "right": 0.0, "tie": 0.5, "both_bad": 0.5}


def _score(outcome: str) -> float:
    try:
        return _SCORE[outcome]
    except KeyError:
        raise ValueError(f"unknown vote outcome {outcome!r}; expected one of {', '.join(_SCORE)}") from None


def elo(votes: Iterable[Vote], k: float = 4.0, base: float = 1000.0, scale: float = 400.0) -> dict[str, float]:
    """Online Elo ratings after the votes, in the order given (every model starts at ``base``)."""
    r: dict[str, float] = {}
    for a, b, outcome in votes:
        s = _score(outcome)
        ra, rb = r.setdefault(a, base), r.setdefault(b, base)
        e = 1.0 / (1.0 + 10.0 ** ((rb - ra) / scale))
        r[a] = ra + k * (s - e)
        r[b] = rb + k * ((1.0 - s) - (1.0 - e))
    return r


def _encode(votes: Iterable[Vote]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Model names (sorted) and per-vote index arrays ``a``, ``b`` and score of ``a``."""
    votes = list(votes)
    names = sorted({m for v in votes for m in v[:2]})
    index = {m: i for i, m in enumerate(names)}
    for a, b, _ in votes:
        if a == b:
            raise ValueError(f"a vote between {a!r} and itself cannot be rated")
    ia = np.array([index[v[0]] for v in votes], dtype=np.int64)
    ib = np.array([index[v[1]] for v in votes], dtype=np.int64)
    s = np.array([_score(v[2]) for v in votes], dtype=np.float64)
    return names, ia, ib, s


def _wins(n: int, ia: np.ndarray, ib: np.ndarray, s: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """``W[i, j]``: (fractional) wins of i over j."""
    w = np.ones_like(s) if weight is None else weight
    wins = np.zeros((n, n))
    np.add.at(wins, (ia, ib), w * s)
    np.add.at(wins, (ib, ia), w * (1.0 - s))
    return wins


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free


def _nll(theta: np.ndarray, wins: np.ndarray, prior: float) -> float:
    """Negative log-likelihood (with the anchor prior) in natural-log strengths."""
    d = theta[None, :] - theta[:, None]  # d[i, j] = theta_j - theta_i; -log P(i beats j) = softplus(d)
    return float((wins * np.logaddexp(0.0, d)).sum()
                 + 0.5 * prior * (np.logaddexp(0.0, theta) + np.logaddexp(0.0, -theta)).sum())


def _fit_theta(wins: np.ndarray, prior: float, iters: int, tol: float) -> np.ndarray:
    """Newton's method for the penalised BT MLE; returns natural-log strengths."""
    n = wins.shape[0]
    games = wins + wins.T
    wins_i = wins.sum(axis=1)
    theta = np.zeros(n)
    f = _nll(theta, wins, prior)
    for _ in range(iters):
        p = _sigmoid(theta[:, None] - theta[None, :])  # p[i, j] = P(i beats j)
        q = _sigmoid(theta)
        grad = (games * p).sum(axis=1) - wins_i + prior * (q - 0.5)
        c = games * p * (1.0 - p)
        hess = -c
        hess[np.diag_indices(n)] = c.sum(axis=1) - np.diag(c) + prior * q * (1.0 - q)
        step = np.linalg.solve(hess, -grad)
        t = 1.0
        while True:  # backtracking (Armijo); a full step is almost always accepted near the optimum
            new = theta + t * step
            f_new = _nll(new, wins, prior)
            if f_new <= f + 1e-4 * t * float(grad @ step) or t < 1e-8:
                break
            t *= 0.5
        theta, f = new, f_new
        if np.max(np.abs(t * step)) < tol:
            break
    return theta


def _to_elo(theta: np.ndarray, base: float, scale: float) -> np.ndarray:
    return base + scale * (theta - theta.mean()) / np.log(10.0)


def bradley_terry(votes: Iterable[Vote], base: float = 1000.0, scale: float = 400.0, iters: int = 100,
                  tol: float = 1e-10, prior: float = 1.0) -> dict[str, float]:
    """Bradley–Terry MLE ratings on the Elo scale (mean ``base``); ``prior`` virtual ties per model (see above)."""
    names, ia, ib, s = _encode(votes)
    if not names:
        return {}
    theta = _fit_theta(_wins(len(names), ia, ib, s), prior, iters, tol)
    return dict(zip(names, _to_elo(theta, base, scale).tolist()))


def bootstrap_intervals(votes: Iterable[Vote], rounds: int = 200, seed: int = 0, level: float = 0.95,
                        base: float = 1000.0, scale: float = 400.0,
                        prior: float = 1.0) -> dict[str, tuple[float, float]]:
    """``{model: (lo, hi)}``: percentile bootstrap interval of each BT rating (votes resampled with replacement)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    votes = list(votes)
    names, ia, ib, s = _encode(votes)
    if not names:
        return {}
    n, m = len(names), len(s)
    point = _to_elo(_fit_theta(_wins(n, ia, ib, s), prior, 100, 1e-10), base, scale)
    rng = np.random.default_rng(seed)
    samples = np.full((rounds, n), np.nan)
    for r in range(rounds):
        counts = np.bincount(rng.integers(0, m, size=m), minlength=m).astype(np.float64)
        wins = _wins(n, ia, ib, s, counts)
        present = (wins + wins.T).sum(axis=1) > 0
        theta = _fit_theta(wins[np.ix_(present, present)], prior, 100, 1e-8)
        samples[r, present] = _to_elo(theta, base, scale)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.nanquantile(samples, [alpha, 1.0 - alpha], axis=0)
    lo, hi = np.minimum(lo, point), np.maximum(hi, point)
    return {name: (float(lo[i]), float(hi[i])) for i, name in enumerate(names)}


def leaderboard(votes: Iterable[Vote], rounds: int = 200, seed: int = 0) -> list[dict]:
    """Rows ``{"model", "rating", "lo", "hi", "votes", "wins", "losses", "ties"}``, best rating first
    (ties and both-bad votes are counted under ``ties``)."""
    votes: Sequence[Vote] = list(votes)
    ratings = bradley_terry(votes)
    intervals = bootstrap_intervals(votes, rounds=rounds, seed=seed)
    rows = {m: {"model": m, "rating": ratings[m], "lo": intervals[m][0], "hi": intervals[m][1], "votes": 0,
                "wins": 0, "losses": 0, "ties": 0} for m in ratings}
    for a, b, outcome in votes:
        s = _score(outcome)
        for model, won in ((a, s), (b, 1.0 - s)):
            row = rows[model]
            row["votes"] += 1
            row["wins" if won == 1.0 else "losses" if won == 0.0 else "ties"] += 1
    return sorted(rows.values(), key=lambda row: (-row["rating"], row["model"]))
