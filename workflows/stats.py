"""Statistics that say whether a difference between prompt versions is real: bootstrap intervals and McNemar."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

# scipy materialises each batch of resamples as a (batch, n) array, and the BCa jackknife as an (n, n - 1)
# array when no batch is given. Capping the elements per batch keeps memory near 16 MB per array, so a
# 10,000-example test split cannot ask for gigabytes; below the cap (n <= 1,000 at 2,000 resamples) it is a
# single batch and costs nothing.
_MAX_ELEMENTS_PER_BATCH = 2_000_000


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float  # lower end of the confidence interval
    high: float
    n: int
    confidence: float


@dataclass(frozen=True)
class PairedComparison:
    baseline: Estimate
    candidate: Estimate
    difference: Estimate  # candidate - baseline, per example, with a paired bootstrap interval
    wins: int  # examples where the candidate scored higher
    losses: int
    ties: int
    mcnemar_p: float | None  # exact McNemar p-value when both score lists are 0/1, else None

    @property
    def significant_gain(self) -> bool:
        # The whole interval must lie above zero: a gain whose interval still includes "no change" is noise.
        return self.difference.low > 0


def mean_with_interval(
    scores: Sequence[float], *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> Estimate:
    """Mean with a bootstrap confidence interval (BCa, falling back to percentile only where BCa is undefined)."""
    values = _as_scores(scores, name="scores")
    _check_settings(confidence=confidence, resamples=resamples)
    return _bootstrap_mean(values, confidence=confidence, resamples=resamples, seed=seed)


def compare_paired(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> PairedComparison:
    """Compare two prompt versions scored on the same examples, example by example."""
    # Lengths first: "baseline is empty" would hide the real mistake when only one side is.
    _check_same_length(len(baseline), len(candidate))
    baseline_values = _as_scores(baseline, name="baseline")
    candidate_values = _as_scores(candidate, name="candidate")
    _check_settings(confidence=confidence, resamples=resamples)

    # Bootstrapping the per-example differences is the paired bootstrap: each resample draws examples, and an
    # example brings both of its scores along. Pairing removes the example-difficulty variance both versions
    # share, so a real gain shows up with far fewer examples than comparing two independent intervals would.
    differences = candidate_values - baseline_values

    # The same seed for all three means: with equal lengths they then use the same resampled examples, so
    # the three intervals describe one set of bootstrap worlds.
    def estimate(values: npt.NDArray[np.float64]) -> Estimate:
        return _bootstrap_mean(values, confidence=confidence, resamples=resamples, seed=seed)

    binary = _is_binary(baseline_values) and _is_binary(candidate_values)
    return PairedComparison(
        baseline=estimate(baseline_values),
        candidate=estimate(candidate_values),
        difference=estimate(differences),
        wins=int(np.count_nonzero(differences > 0)),
        losses=int(np.count_nonzero(differences < 0)),
        ties=int(np.count_nonzero(differences == 0)),
        mcnemar_p=(
            mcnemar_exact((baseline_values == 1).tolist(), (candidate_values == 1).tolist()) if binary else None
        ),
    )


def mcnemar_exact(baseline_correct: Sequence[bool], candidate_correct: Sequence[bool]) -> float:
    """Two-sided exact McNemar test on the discordant pairs (binomial test with p=0.5); 1.0 when there are none."""
    baseline_flags = np.asarray(baseline_correct, dtype=bool)
    candidate_flags = np.asarray(candidate_correct, dtype=bool)
    _check_same_length(len(baseline_flags), len(candidate_flags))
    if len(baseline_flags) == 0:
        raise ValueError("mcnemar_exact needs at least one example; got none.")

    # Examples both versions got right (or both wrong) say nothing about which is better; only the discordant
    # pairs do. Under "no difference" each discordant pair is a fair coin flip, hence the exact binomial test,
    # which stays valid for the handful of discordant pairs that small validation splits produce.
    candidate_only = int(np.count_nonzero(candidate_flags & ~baseline_flags))
    baseline_only = int(np.count_nonzero(baseline_flags & ~candidate_flags))
    discordant = candidate_only + baseline_only
    if discordant == 0:
        return 1.0
    return float(stats.binomtest(candidate_only, discordant, p=0.5, alternative="two-sided").pvalue)


def _bootstrap_mean(values: npt.NDArray[np.float64], *, confidence: float, resamples: int, seed: int) -> Estimate:
    mean = float(np.mean(values))
    n = len(values)

    # One example cannot be resampled into anything but itself, and identical scores resample to the same mean
    # every time: the honest interval is the point itself. scipy's BCa would divide 0 by 0 here (NaN plus a
    # RuntimeWarning and a DegenerateDataWarning), so these cases never reach it.
    if n == 1 or bool(np.all(values == values[0])):
        return Estimate(mean=mean, low=mean, high=mean, n=n, confidence=confidence)

    # BCa rather than percentile: evaluation scores are usually 0/1 or bounded in [0, 1], and near the ends of
    # that range (accuracy 0.95, say) the bootstrap distribution of the mean is skewed. BCa corrects for bias
    # and skew (second-order accurate), where the percentile interval undercovers on exactly the strong
    # prompts we care about. The cost is a jackknife of n extra means, which is cheap for a mean.
    #
    # The resampling is done once with the percentile method, then BCa is computed from that same bootstrap
    # distribution (n_resamples=0 reuses it, no new draws). BCa needs the sample mean to fall inside the
    # bootstrap distribution; with very few resamples every resample can land on one side of it, and BCa is
    # then undefined (NaN and a warning), so the percentile interval of the same draws is kept instead.
    batch = max(1, _MAX_ELEMENTS_PER_BATCH // n)
    percentile_result = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=resamples,
        batch=batch,
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    distribution: npt.NDArray[np.float64] = np.asarray(percentile_result.bootstrap_distribution, dtype=np.float64)
    bca_defined = bool(np.any(distribution <= mean)) and bool(np.any(distribution >= mean))
    interval = percentile_result.confidence_interval
    if bca_defined:
        interval = stats.bootstrap(
            (values,),
            np.mean,
            n_resamples=0,
            batch=batch,
            vectorized=True,
            confidence_level=confidence,
            method="BCa",
            bootstrap_result=percentile_result,
        ).confidence_interval
    return Estimate(mean=mean, low=float(interval.low), high=float(interval.high), n=n, confidence=confidence)


def _as_scores(scores: Sequence[float], *, name: str) -> npt.NDArray[np.float64]:
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of numbers; got an array of shape {values.shape}.")
    if len(values) == 0:
        raise ValueError(f"{name} is empty; a mean and its interval need at least one score.")
    # A NaN would silently turn every mean and interval into NaN; a failed score must be recorded as a number
    # (usually 0) by the metric, not smuggled in here.
    if not bool(np.all(np.isfinite(values))):
        raise ValueError(f"{name} contains NaN or infinite values; every score must be a finite number.")
    return values


def _check_settings(*, confidence: float, resamples: int) -> None:
    # Checked here rather than left to scipy because the one-example and all-equal paths never call scipy,
    # and a bad setting should fail the same way whatever the data.
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1; got {confidence}.")
    # One resample has no spread to form an interval from (scipy's standard error then warns of zero degrees
    # of freedom); two is the least that means anything, and the default of 2,000 is what callers should use.
    if resamples < 2:
        raise ValueError(f"resamples must be at least 2; got {resamples}.")


def _check_same_length(baseline_length: int, candidate_length: int) -> None:
    if baseline_length != candidate_length:
        raise ValueError(
            f"Paired statistics need one score per example from each version: baseline has {baseline_length} "
            f"scores but candidate has {candidate_length}."
        )


def _is_binary(values: npt.NDArray[np.float64]) -> bool:
    return bool(np.all((values == 0) | (values == 1)))
