"""Dynamic time warping between two renditions of the same words.

Only steps that advance the first sequence are allowed (the second may stay or jump ahead by
up to two frames), so each row of the cost table depends on the previous row alone and the
table fills with vector operations instead of a Python loop per cell.
"""

from __future__ import annotations

import numpy as np

#: How far the second sequence may advance per step of the first.
_STEPS = (0, 1, 2, 3)


def dtw_path(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (ia, ib) of matched frames of `a` (n x d) and `b` (m x d), Euclidean cost."""
    n, m = len(a), len(b)
    cost = np.sqrt(np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T, 0.0))
    total = np.full((n, m), np.inf)
    back = np.zeros((n, m), dtype=np.int8)
    total[0, 0] = cost[0, 0]
    for i in range(1, n):
        prev = total[i - 1]
        options = np.full((len(_STEPS), m), np.inf)
        for k, step in enumerate(_STEPS):
            options[k, step:] = prev[: m - step] if step else prev
        best = options.argmin(axis=0)
        total[i] = cost[i] + options[best, np.arange(m)]
        back[i] = best
    j = m - 1 if np.isfinite(total[n - 1, m - 1]) else int(total[n - 1].argmin())
    ia, ib = [n - 1], [j]
    for i in range(n - 1, 0, -1):
        j -= _STEPS[back[i, j]]
        ia.append(i - 1)
        ib.append(j)
    return np.array(ia[::-1]), np.array(ib[::-1])
