"""The source study's own heatmap algorithm, transcribed from the notebook, kept as the yardstick.

Tests compare the project's vectorised generator against these functions, and the benchmark times them.
Nothing in the workflow calls this module.
"""

from __future__ import annotations

from math import gamma

import numpy as np
from scipy.stats import multivariate_normal


def source_combinations() -> np.ndarray:
    """The notebook's (var_x, var_y, cor) table, 11,875 rows in its `mesh.T.reshape(-1, 3)` order."""
    var_grid = np.arange(0.1, 5, 0.2)
    cor_grid = np.arange(-0.95, 0.95, 0.1)
    mesh = np.array(np.meshgrid(var_grid, var_grid, cor_grid))
    return mesh.T.reshape(-1, 3)


def source_gaussian_heatmap(varx: float, vary: float, cor: float) -> np.ndarray:
    """The notebook's `simulate_distr` for the bivariate normal: scipy pdf on the mgrid, max-normalised."""
    mu = np.array([0, 0])
    vc = np.array([[varx, cor * np.sqrt(varx) * np.sqrt(vary)], [cor * np.sqrt(varx) * np.sqrt(vary), vary]])
    x, y = np.mgrid[-3:3:0.17, -3:3:0.17]
    pos = np.dstack((x, y))
    rv = multivariate_normal(mean=mu, cov=vc)
    val = rv.pdf(pos)
    return val / np.max(val)


def source_multivariate_t_density(x, mu, sigma, df):
    """The notebook's hand-written multivariate t density (row by row)."""
    x = np.atleast_2d(x)
    n_d = sigma.shape[0]
    numerator = gamma(1.0 * (n_d + df) / 2.0)
    denominator = (
        gamma(1.0 * df / 2.0)
        * np.power(df * np.pi, 1.0 * n_d / 2.0)
        * np.power(np.linalg.det(sigma), 1.0 / 2.0)
        * np.power(
            1.0 + (1.0 / df) * np.diagonal(np.dot(np.dot(x - mu, np.linalg.inv(sigma)), (x - mu).T)),
            1.0 * (n_d + df) / 2.0,
        )
    )
    return 1.0 * numerator / denominator


def source_student_t_heatmap(varx: float, vary: float, cor: float, df: float = 5) -> np.ndarray:
    """The notebook's Student-t `simulate_distr`: the density evaluated one grid row at a time."""
    mu = np.array([0, 0])
    vc = np.array([[varx, cor * np.sqrt(varx) * np.sqrt(vary)], [cor * np.sqrt(varx) * np.sqrt(vary), vary]])
    x, y = np.mgrid[-3:3:0.17, -3:3:0.17]
    pos = np.dstack((x, y))
    val = np.array([source_multivariate_t_density(row, mu=mu, sigma=vc, df=df) for row in pos])
    return val / np.max(val)


def source_df_labels(combinations: np.ndarray, uniform_draws: np.ndarray) -> np.ndarray:
    """The notebook's df rule, given its U(0, 10) draws: 2 where |var_x + var_y|^2 - U > 20, else 200."""
    heavy = np.power(np.abs(combinations[:, 0] + combinations[:, 1]), 2) - uniform_draws > 20
    return np.where(heavy, 2, 200)
