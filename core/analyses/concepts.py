"""Sparse concept codes and concept atlases over neuron text directions (paper-methods §8.1).

A concept (a word, with the article's prompts for emotions) is embedded as a text vector t. Each
neuron u at the article layer has a text direction w_u (the attention pool's value path). The
*sparse code* of t is the non-negative lasso ``min_x 1/2 ||W x - t||^2 + lam ||x||_1, x >= 0``
over unit-normalised directions: the few neurons whose directions add up to the concept.
A list of concepts is decomposed into a small *atlas* by non-negative matrix factorisation of
their attribution vectors ``W^T t``. The solvers are small numpy routines (an exact active-set
non-negative lasso, multiplicative-update NMF, proximal-gradient L1 logistic regression), tested
against their optimality conditions. Nothing here imports streamlit.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.errors import BadInputError

if TYPE_CHECKING:
    from core.model.loading import LoadedModel

logger = logging.getLogger(__name__)

# The article's three emotion prompts (paper-methods §8.1).
EMOTION_PROMPTS: tuple[str, ...] = ("i am feeling {}", "Me feeling {} on my face",
                                    "a photo of me with a {} expression on my face")
PLAIN_PROMPTS: tuple[str, ...] = ("{}",)
PROMPT_SETS = {"emotion": EMOTION_PROMPTS, "plain": PLAIN_PROMPTS}
# The emotions of the article's Fig 9-12 equations plus the feeling wheel's six core feelings.
ARTICLE_EMOTIONS: tuple[str, ...] = (
    "jealous", "bored", "intimate", "surprised", "powerful", "creative", "embarrassed", "let down",
    "accepted", "confident", "pressured", "stressed", "anxious", "mad",
    "sad", "scared", "joyful", "peaceful", "happy", "angry",
)
MAX_CONCEPTS = 200


def prompts_for(kind: str) -> tuple[str, ...]:
    """Prompt templates for a concept kind: ``emotion`` (the article's three) or ``plain`` (the word)."""
    if kind not in PROMPT_SETS:
        raise BadInputError(f"Unknown concept kind '{kind}'. Available: {', '.join(PROMPT_SETS)}.")
    return PROMPT_SETS[kind]


# ----------------------------------------------------------------------------- solvers

def nonneg_lasso(A: np.ndarray, b: np.ndarray, lam: float, *, tol: float = 1e-10, gram: np.ndarray | None = None,
                 max_support: int | None = None) -> np.ndarray:
    """Solve ``min_x 1/2 ||A x - b||^2 + lam * sum(x)`` subject to ``x >= 0`` exactly (active set).

    Lawson-Hanson's NNLS active-set method on the equivalent quadratic program
    ``min 1/2 x'Gx - c'x, x >= 0`` with ``G = A'A`` and ``c = A'b - lam``: grow the set of free
    (positive) coordinates by the steepest-descent one, solve the small linear system on it, and
    step back to feasibility when a coordinate would turn negative. Each added term costs one
    (C,) matrix-vector product and a |free| x |free| solve.

    Args:
        A: (D, C) design matrix; b: (D,) target; lam: L1 weight (>= 0).
        tol: optimality tolerance relative to ``max|A^T b|``.
        gram: ``A.T @ A`` if already computed (reused along a regularisation path).
        max_support: stop early once more coordinates than this are free (the caller discards it).

    Returns:
        x (C,) float64, non-negative.
    """
    A = np.asarray(A, np.float64)
    G = A.T @ A if gram is None else gram  # (C, C)
    c = A.T @ np.asarray(b, np.float64) - lam  # (C,)
    n = A.shape[1]
    x, free = np.zeros(n), np.zeros(n, bool)
    eps = tol * max(float(np.abs(c + lam).max()), 1e-12)
    for _ in range(3 * n):
        w = c - G @ x  # minus the gradient
        w[free] = -np.inf
        j = int(np.argmax(w))
        if w[j] <= eps or (max_support is not None and free.sum() > max_support):
            break
        free[j] = True
        while True:
            idx = np.flatnonzero(free)
            z = np.zeros(n)
            z[idx] = _solve(G[np.ix_(idx, idx)], c[idx])
            if (z[idx] > 0).all():
                x = z
                break
            neg = idx[z[idx] <= 0]
            x = x + np.min(x[neg] / (x[neg] - z[neg] + 1e-300)) * (z - x)
            free &= x > eps
            x[~free] = 0.0
            if not free.any():
                break
    return x


def _solve(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(M, v)
    except np.linalg.LinAlgError:  # collinear directions: the minimum-norm solution
        return np.linalg.lstsq(M, v, rcond=None)[0]


def kkt_violation(A: np.ndarray, b: np.ndarray, lam: float, x: np.ndarray) -> float:
    """Largest violation of the non-negative lasso's optimality conditions at ``x``.

    With g = A^T (A x - b): g_u = -lam where x_u > 0, and g_u >= -lam where x_u = 0.
    """
    g = A.T @ (A @ x - b) + lam
    on = x > 0
    return float(max(np.abs(g[on]).max(initial=0.0), (-g[~on]).max(initial=0.0)))


def nmf(M: np.ndarray, k: int, *, iters: int = 500, seed: int = 0, tol: float = 1e-6
        ) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Non-negative matrix factorisation ``M ~ H @ F`` (Frobenius loss, multiplicative updates).

    Args:
        M: (N, P) non-negative matrix; k: number of factors (1 <= k <= min(N, P)).
        seed: the random initialisation's seed (same seed, same result).

    Returns:
        ``(H (N, k), F (k, P), loss trace)``; rows of F have unit L2 norm (scale moved into H).
    """
    M = np.asarray(M, np.float64)
    if (M < 0).any():
        raise BadInputError("NMF needs a non-negative matrix.")
    if not 1 <= k <= min(M.shape):
        raise BadInputError(f"The number of factors must be between 1 and {min(M.shape)} (got {k}).")
    rng = np.random.default_rng(seed)
    avg = np.sqrt(max(M.mean(), 1e-12) / k)
    H = avg * rng.random((M.shape[0], k)) + 1e-4
    F = avg * rng.random((k, M.shape[1])) + 1e-4
    eps, trace = 1e-12, []
    for _ in range(iters):
        F *= (H.T @ M) / (H.T @ H @ F + eps)
        H *= (M @ F.T) / (H @ (F @ F.T) + eps)
        trace.append(float(np.linalg.norm(M - H @ F) ** 2))
        if len(trace) > 1 and trace[-2] - trace[-1] <= tol * max(trace[-2], eps):
            break
    norms = np.linalg.norm(F, axis=1, keepdims=True) + eps  # (k, 1)
    return H * norms.T, F / norms, trace


# ----------------------------------------------------------------------------- concept vectors

def neuron_directions(loaded: LoadedModel, layer: str | None = None) -> np.ndarray:
    """Raw (unnormalised) neuron text directions (C, D): ``core.analyses.search.neuron_directions``.

    Raw, so that ``directions @ t`` is the article's bilinear attribution v(t) = W^T t;
    ``sparse_code`` normalises them itself.
    """
    from core.analyses.search import neuron_directions as _directions

    return np.asarray(_directions(loaded, layer, normalize=False), np.float64)


def concept_vectors(loaded: LoadedModel, concepts: Sequence[str], kind: str = "emotion") -> np.ndarray:
    """Text embeddings of concepts averaged over the kind's prompts, L2-normalised: (K, D)."""
    from core.analyses.zeroshot import class_embeddings, parse_class_list

    concepts = parse_class_list(list(concepts), minimum=1)
    return np.asarray(class_embeddings(loaded, concepts, prompts_for(kind)), np.float64)


# ----------------------------------------------------------------------------- sparse codes

@dataclass
class SparseCode:
    """A concept's sparse non-negative neuron code.

    Attributes:
        concept: the text; table: the non-zero terms, best first: unit, weight (on unit-normalised
            directions), relative (weight / largest), cosine (direction vs concept);
        fit_cosine: cosine between the reconstruction W x and the concept vector;
        alpha: lam / lam_max used; nnz: number of non-zero terms.
    """

    concept: str
    table: pd.DataFrame
    fit_cosine: float
    alpha: float
    nnz: int

    def to_dict(self) -> dict:
        return {"concept": self.concept, "alpha": self.alpha, "nnz": self.nnz, "fit_cosine": round(self.fit_cosine, 6),
                "terms": self.table.round(6).to_dict(orient="records")}


def sparse_code(directions: np.ndarray, target: np.ndarray, *, alpha: float = 0.3, max_terms: int | None = None,
                exclude: Sequence[int] = (), concept: str = "") -> SparseCode:
    """The non-negative lasso code of ``target`` over neuron ``directions``.

    Args:
        directions: (C, D) neuron text directions; each is normalised to unit length.
        target: (D,) concept vector (normalised here).
        alpha: lam as a fraction of lam_max = max_u cos(w_u, t) (the smallest lam giving x = 0);
            smaller alpha, more terms. In (0, 1).
        max_terms: if given, the smallest alpha on a path from 0.95 down to ``alpha`` whose code has
            at most this many terms.
        exclude: units left out (e.g. purely lexical "text" neurons, as the article did).

    Raises:
        BadInputError: alpha outside (0, 1), shape mismatch, or no neuron aligned with the concept.
    """
    if not 0 < alpha < 1:
        raise BadInputError(f"alpha must be between 0 and 1 (a fraction of the largest useful L1 weight); got {alpha}.")
    W = np.asarray(directions, np.float64)
    t = np.asarray(target, np.float64).ravel()
    if W.ndim != 2 or W.shape[1] != t.shape[0]:
        raise BadInputError(f"directions {W.shape} and concept vector {t.shape} do not match.")
    W = W / (np.linalg.norm(W, axis=1, keepdims=True) + 1e-12)
    t = t / (np.linalg.norm(t) + 1e-12)
    keep = np.setdiff1d(np.arange(W.shape[0]), np.asarray(list(exclude), int))
    A = W[keep].T  # (D, C')
    cos = A.T @ t  # (C',)
    lam_max = float(cos.max())
    if lam_max <= 0:
        raise BadInputError(f"No neuron direction is positively aligned with '{concept}'.")
    alphas = [alpha] if max_terms is None else list(np.geomspace(0.95, alpha, 24))
    x, used, gram = np.zeros(A.shape[1]), alphas[0], A.T @ A  # (C', C')
    for a in alphas:  # regularisation path from sparse to dense; stop before exceeding max_terms
        x_a = nonneg_lasso(A, t, a * lam_max, gram=gram, max_support=max_terms)
        if max_terms is not None and np.count_nonzero(x_a > 1e-9) > max_terms and np.count_nonzero(x > 1e-9):
            break
        x, used = x_a, a
    on = np.flatnonzero(x > 1e-9)
    order = on[np.argsort(-x[on])]
    table = pd.DataFrame({"unit": keep[order].astype(int), "weight": x[order],
                          "relative": x[order] / x[order].max() if len(order) else x[order],
                          "cosine": cos[order]})
    recon = A @ x
    fit = float(recon @ t / (np.linalg.norm(recon) + 1e-12)) if len(order) else 0.0
    return SparseCode(concept, table, fit, float(used), len(order))


def code_concept(loaded: LoadedModel, concept: str, *, kind: str = "emotion", alpha: float = 0.3,
                 max_terms: int | None = None,
                 exclude: Sequence[int] = (), layer: str | None = None) -> SparseCode:
    """Sparse neuron code of one concept for a loaded model (see ``sparse_code``)."""
    concept = " ".join(str(concept).split())
    if not concept:
        raise BadInputError("Type a concept, e.g. 'surprised' or 'happy'.")
    t = concept_vectors(loaded, [concept], kind)[0]
    return sparse_code(neuron_directions(loaded, layer), t, alpha=alpha, max_terms=max_terms, exclude=exclude,
                       concept=concept)


# Two concepts whose codes' weight vectors are closer than this are not told apart by the model (on the demo model
# every emotion's code is near-identical: 0.95-0.997 between happy, sad, angry, scared and surprised).
INDISTINCT_COSINE = 0.95
PROBE_CONCEPTS: tuple[str, ...] = ("happy", "sad", "angry")  # compared with a typed concept's code


def code_cosine(a: SparseCode, b: SparseCode) -> float:
    """Cosine between two codes' weight vectors over the units (0 when either code is empty)."""
    wa = dict(zip(a.table["unit"].tolist(), a.table["weight"].tolist()))
    wb = dict(zip(b.table["unit"].tolist(), b.table["weight"].tolist()))
    na, nb = float(np.linalg.norm(list(wa.values()) or [0.0])), float(np.linalg.norm(list(wb.values()) or [0.0]))
    return sum(w * wb.get(u, 0.0) for u, w in wa.items()) / (na * nb) if na and nb else 0.0


def probes_for(concept: str, n: int = 2) -> list[str]:
    """The concepts whose codes a concept's code is compared with (``PROBE_CONCEPTS`` other than itself)."""
    return [c for c in PROBE_CONCEPTS if c.lower() != " ".join(concept.split()).lower()][:n]


def l1_logistic(X: np.ndarray, y: np.ndarray, lam: float, *, max_iter: int = 3000, tol: float = 1e-6
                ) -> np.ndarray:
    """Multinomial logistic regression with an L1 penalty (proximal gradient, FISTA).

    Minimises ``mean_i CE(softmax(X_i B + b), y_i) + lam * |B|_1`` (intercepts b unpenalised).

    Args:
        X: (N, C) features; y: (N,) integer labels 0..K-1; lam: L1 weight.

    Returns:
        B (C, K) coefficients (float64).
    """
    X = np.asarray(X, np.float64)
    y = np.asarray(y, int)
    n, k = X.shape[0], int(y.max()) + 1
    Y = np.eye(k)[y]  # (N, K)
    step = 1.0 / max(0.5 * np.linalg.norm(X, 2) ** 2 / n, 1e-12)  # CE's Lipschitz bound: ||X||^2 / (2N)
    B, b = np.zeros((X.shape[1], k)), np.zeros(k)
    VB, vb, t = B.copy(), b.copy(), 1.0

    def grad(Bm, bm):
        Z = X @ Bm + bm
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        G = (P - Y) / n  # (N, K)
        return X.T @ G, G.sum(axis=0)

    for _ in range(max_iter):
        gB, gb = grad(VB, vb)
        B_new = VB - step * gB
        B_new = np.sign(B_new) * np.maximum(np.abs(B_new) - step * lam, 0.0)  # soft threshold
        b_new = vb - step * gb
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        mom = (t - 1) / t_new
        VB, vb = B_new + mom * (B_new - B), b_new + mom * (b_new - b)
        done = np.abs(B_new - B).max(initial=0.0) < tol * max(np.abs(B_new).max(initial=0.0), 1e-12)
        B, b, t = B_new, b_new, t_new
        if done:
            break
    return B


def contrastive_codes(loaded: LoadedModel, concepts: Sequence[str], *, kind: str = "emotion", lam: float = 0.02,
                      top: int = 4, layer: str | None = None) -> pd.DataFrame:
    """The article's codes: L1 logistic regression across concepts on per-prompt attribution vectors.

    Each (concept, prompt) pair gives one attribution vector ``W^T t`` (raw directions), standardised per
    unit; a multinomial L1 logistic regression labels them with their concept, and each concept's
    coefficient column is its signed, *discriminative* code (paper-methods §8.1).

    Returns:
        Long table concept, rank, unit, weight, relative (weight / largest |weight| of the concept);
        the ``top`` largest-magnitude terms per concept.

    Raises:
        BadInputError: fewer than two concepts.
    """
    from core.analyses.zeroshot import parse_class_list
    from core.model.embed import encode_text

    concepts = parse_class_list(list(concepts), minimum=2)
    prompts = prompts_for(kind)
    texts = [p.format(c) for c in concepts for p in prompts]
    T = encode_text(loaded, texts).numpy().astype(np.float64)  # (K*P, D)
    X = T @ neuron_directions(loaded, layer).T  # (K*P, C)
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-8)
    y = np.repeat(np.arange(len(concepts)), len(prompts))
    B = l1_logistic(X, y, lam)  # (C, K)
    rows = []
    for j, c in enumerate(concepts):
        col = B[:, j]
        order = [u for u in np.argsort(-np.abs(col)) if col[u] != 0][:top]
        peak = max(float(np.abs(col).max()), 1e-12)
        rows += [{"concept": c, "rank": r + 1, "unit": int(u), "weight": float(col[u]),
                  "relative": float(col[u]) / peak} for r, u in enumerate(order)]
    return pd.DataFrame(rows, columns=["concept", "rank", "unit", "weight", "relative"])


# ----------------------------------------------------------------------------- atlas

@dataclass
class Atlas:
    """An NMF atlas of concepts.

    Attributes:
        loadings: long table concept, factor, loading (one row per concept x factor).
        factors: long table factor, rank, unit, sign (+: the unit's attribution is positive, -:
            negative), weight; the top units of each factor.
        names: factor -> its highest-loading concept (a readable name).
        error: relative reconstruction error ||M - HF|| / ||M||.
    """

    loadings: pd.DataFrame
    factors: pd.DataFrame
    names: dict[str, str]
    error: float

    def to_dict(self) -> dict:
        return {"error": round(self.error, 6), "names": self.names,
                "loadings": self.loadings.round(6).to_dict(orient="records"),
                "factors": self.factors.round(6).to_dict(orient="records")}


def concept_atlas(attributions: np.ndarray, concepts: Sequence[str], k: int, *, center: bool = True,
                  top_units: int = 5, seed: int = 0) -> Atlas:
    """Decompose concepts' attribution vectors into ``k`` non-negative factors.

    Args:
        attributions: (K, C) rows ``W^T t`` (the article's "W x_text"), one per concept.
        center: subtract the mean over concepts first (removes what every prompt shares).
        top_units: units listed per factor.

    The signed matrix is split into ``[max(M, 0), max(-M, 0)]`` so NMF can represent both
    excitation and inhibition: column u is "+u", column C + u is "-u".
    """
    M = np.asarray(attributions, np.float64)
    concepts = list(concepts)
    if M.ndim != 2 or M.shape[0] != len(concepts):
        raise BadInputError(f"{len(concepts)} concepts but an attribution matrix of shape {M.shape}.")
    if len(concepts) < 2:
        raise BadInputError("An atlas needs at least two concepts.")
    if center:
        M = M - M.mean(axis=0, keepdims=True)
    C = M.shape[1]
    split = np.concatenate([np.maximum(M, 0), np.maximum(-M, 0)], axis=1)  # (K, 2C)
    H, F, _ = nmf(split, k, seed=seed)
    error = float(np.linalg.norm(split - H @ F) / (np.linalg.norm(split) + 1e-12))
    labels = [f"factor {i + 1}" for i in range(k)]
    loadings = pd.DataFrame([{"concept": c, "factor": labels[j], "loading": float(H[i, j])}
                             for i, c in enumerate(concepts) for j in range(k)])
    rows = []
    for j in range(k):
        for rank, col in enumerate(np.argsort(-F[j])[:top_units]):
            rows.append({"factor": labels[j], "rank": rank + 1, "unit": int(col % C),
                         "sign": "+" if col < C else "-", "weight": float(F[j, col])})
    names = {labels[j]: concepts[int(H[:, j].argmax())] for j in range(k)}
    return Atlas(loadings, pd.DataFrame(rows), names, error)


def atlas_for(loaded: LoadedModel, concepts: Sequence[str], k: int, *, kind: str = "emotion", center: bool = True,
              layer: str | None = None, seed: int = 0) -> Atlas:
    """``concept_atlas`` for a loaded model: embeds the concepts and projects them on the directions."""
    from core.analyses.zeroshot import parse_class_list

    concepts = parse_class_list(list(concepts), minimum=2)
    if len(concepts) > MAX_CONCEPTS:
        raise BadInputError(f"At most {MAX_CONCEPTS} concepts per atlas (got {len(concepts)}).")
    T = concept_vectors(loaded, concepts, kind)  # (K, D)
    attributions = T @ neuron_directions(loaded, layer).T  # (K, C)
    return concept_atlas(attributions, concepts, k, center=center, seed=seed)
