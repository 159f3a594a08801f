"""Tests for workflows.stats: bootstrap intervals, paired comparisons and the exact McNemar test."""

import math
import warnings

import pytest

from workflows.stats import Estimate, compare_paired, mcnemar_exact, mean_with_interval


def _two_sided_binomial_p(successes: int, trials: int) -> float:
    # Reference value computed from the binomial distribution directly, independent of scipy.
    tail = min(successes, trials - successes)
    return min(1.0, 2 * sum(math.comb(trials, k) for k in range(tail + 1)) / 2**trials)


# mean_with_interval


def test_it_gives_the_mean_and_a_95_percent_interval_for_a_known_proportion():
    estimate = mean_with_interval([1.0] * 30 + [0.0] * 70)

    assert estimate.mean == 0.3
    assert estimate.n == 100
    assert estimate.confidence == 0.95
    assert estimate.low < 0.3 < estimate.high
    # The normal approximation gives 0.3 +/- 1.96 * sqrt(0.3 * 0.7 / 100) = [0.21, 0.39].
    assert estimate.low == pytest.approx(0.21, abs=0.02)
    assert estimate.high == pytest.approx(0.39, abs=0.02)


def test_it_narrows_the_interval_as_confidence_drops():
    scores = [1.0] * 30 + [0.0] * 70

    wide = mean_with_interval(scores, confidence=0.99)
    narrow = mean_with_interval(scores, confidence=0.80)

    assert narrow.confidence == 0.80
    assert wide.low < narrow.low < 0.3 < narrow.high < wide.high


def test_it_gives_identical_intervals_for_the_same_seed():
    scores = [(i * 37 % 101) / 100 for i in range(250)]

    first = mean_with_interval(scores, seed=7)
    second = mean_with_interval(scores, seed=7)

    assert first == second


def test_it_gives_different_intervals_for_different_seeds():
    scores = [(i * 37 % 101) / 100 for i in range(250)]

    first = mean_with_interval(scores, seed=1)
    second = mean_with_interval(scores, seed=2)

    assert first.mean == second.mean
    assert (first.low, first.high) != (second.low, second.high)


def test_it_rejects_empty_scores_with_a_clear_message():
    with pytest.raises(ValueError, match="scores is empty"):
        mean_with_interval([])


def test_it_collapses_the_interval_to_the_score_for_a_single_example():
    estimate = mean_with_interval([0.75])

    assert estimate == Estimate(mean=0.75, low=0.75, high=0.75, n=1, confidence=0.95)


def test_it_returns_the_degenerate_interval_for_identical_scores_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimate = mean_with_interval([1.0] * 50)

    assert estimate == Estimate(mean=1.0, low=1.0, high=1.0, n=50, confidence=0.95)


def test_it_accepts_scores_outside_zero_to_one():
    scores = [-2.0, 5.0, 10.0, 3.0, -1.0, 7.0]

    estimate = mean_with_interval(scores)

    assert estimate.mean == pytest.approx(22 / 6)
    assert -2.0 <= estimate.low < estimate.mean < estimate.high <= 10.0


def test_it_falls_back_to_the_percentile_interval_when_bca_is_undefined():
    # With seed 3 both of the two resamples draw only zeros, so every bootstrap mean lies below the sample
    # mean of 0.1; BCa's bias correction is then infinite (scipy returns NaN and warns). The percentile interval
    # of the same draws is [0, 0].
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimate = mean_with_interval([0.0] * 9 + [1.0], resamples=2, seed=3)

    assert estimate == Estimate(mean=0.1, low=0.0, high=0.0, n=10, confidence=0.95)


def test_it_rejects_nan_scores():
    with pytest.raises(ValueError, match="NaN or infinite"):
        mean_with_interval([0.5, float("nan")])


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95.0])
def test_it_rejects_a_confidence_outside_zero_and_one(confidence):
    with pytest.raises(ValueError, match="confidence must be strictly between 0 and 1"):
        mean_with_interval([0.5], confidence=confidence)


@pytest.mark.parametrize("resamples", [0, 1])
def test_it_rejects_fewer_than_two_resamples(resamples):
    with pytest.raises(ValueError, match="resamples must be at least 2"):
        mean_with_interval([0.5, 1.0], resamples=resamples)


# compare_paired


def test_it_reports_no_difference_for_a_candidate_identical_to_the_baseline():
    scores = [1.0, 0.0, 1.0, 1.0, 0.0] * 20

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        comparison = compare_paired(scores, scores)

    assert comparison.difference == Estimate(mean=0.0, low=0.0, high=0.0, n=100, confidence=0.95)
    assert (comparison.wins, comparison.losses, comparison.ties) == (0, 0, 100)
    assert comparison.mcnemar_p == 1.0
    assert comparison.significant_gain is False
    assert comparison.baseline == comparison.candidate


def test_it_finds_a_clearly_better_candidate_significant():
    baseline = [1.0, 0.0] * 100
    candidate = list(baseline)
    zeros = [i for i, score in enumerate(baseline) if score == 0.0]
    ones = [i for i, score in enumerate(baseline) if score == 1.0]
    for i in zeros[:40]:
        candidate[i] = 1.0
    for i in ones[:5]:
        candidate[i] = 0.0

    comparison = compare_paired(baseline, candidate)

    assert (comparison.wins, comparison.losses, comparison.ties) == (40, 5, 155)
    assert comparison.baseline.mean == 0.5
    assert comparison.candidate.mean == pytest.approx(0.675)
    assert comparison.difference.mean == pytest.approx(0.175)
    assert 0 < comparison.difference.low < 0.175 < comparison.difference.high
    assert comparison.significant_gain is True
    assert comparison.mcnemar_p == pytest.approx(_two_sided_binomial_p(40, 45), rel=1e-9)
    assert comparison.mcnemar_p < 1e-6


def test_it_does_not_call_a_small_noisy_gain_significant():
    baseline = [1.0, 0.0] * 10
    candidate = list(baseline)
    candidate[1] = candidate[3] = candidate[5] = 1.0  # three wins
    candidate[0] = candidate[2] = 0.0  # two losses

    comparison = compare_paired(baseline, candidate)

    assert (comparison.wins, comparison.losses, comparison.ties) == (3, 2, 15)
    assert comparison.difference.mean == pytest.approx(0.05)
    assert comparison.difference.low < 0 < comparison.difference.high
    assert comparison.significant_gain is False
    assert comparison.mcnemar_p == 1.0


def test_it_leaves_mcnemar_out_when_scores_are_not_zero_or_one():
    baseline = [0.2, 0.5, 0.9, 0.4]
    candidate = [0.3, 0.5, 1.0, 0.1]

    comparison = compare_paired(baseline, candidate)

    assert comparison.mcnemar_p is None
    assert (comparison.wins, comparison.losses, comparison.ties) == (2, 1, 1)
    assert comparison.difference.mean == pytest.approx(-0.025)


def test_it_gives_identical_comparisons_for_the_same_seed():
    baseline = [(i * 37 % 101) / 100 for i in range(200)]
    candidate = [(i * 53 % 97) / 100 for i in range(200)]

    assert compare_paired(baseline, candidate, seed=3) == compare_paired(baseline, candidate, seed=3)


def test_it_rejects_mismatched_lengths_naming_both():
    with pytest.raises(ValueError, match="baseline has 3 scores but candidate has 2"):
        compare_paired([1.0, 0.0, 1.0], [1.0, 0.0])


def test_it_rejects_mismatched_lengths_even_when_one_side_is_empty():
    with pytest.raises(ValueError, match="baseline has 0 scores but candidate has 1"):
        compare_paired([], [1.0])


def test_it_rejects_an_empty_comparison():
    with pytest.raises(ValueError, match="baseline is empty"):
        compare_paired([], [])


def test_it_collapses_every_interval_for_a_single_paired_example():
    comparison = compare_paired([0.0], [1.0])

    assert comparison.difference == Estimate(mean=1.0, low=1.0, high=1.0, n=1, confidence=0.95)
    assert comparison.wins == 1
    assert comparison.mcnemar_p == 1.0  # one discordant pair: a coin flip cannot be told from a gain
    # The point interval is not evidence of a gain statistically, but it is what significant_gain reports;
    # one example is too few for any interval to mean anything.
    assert comparison.significant_gain is True


# mcnemar_exact


def test_it_gives_the_exact_p_value_for_ten_discordant_pairs_all_favouring_the_candidate():
    baseline = [False] * 10 + [True] * 5 + [False] * 5
    candidate = [True] * 10 + [True] * 5 + [False] * 5

    assert mcnemar_exact(baseline, candidate) == pytest.approx(2 * 0.5**10, rel=1e-12)
    assert 2 * 0.5**10 == 0.001953125


def test_it_is_symmetric_in_which_version_wins():
    baseline = [True] * 10 + [False] * 3
    candidate = [False] * 10 + [True] * 3

    assert mcnemar_exact(baseline, candidate) == mcnemar_exact(candidate, baseline)
    assert mcnemar_exact(baseline, candidate) == pytest.approx(_two_sided_binomial_p(3, 13), rel=1e-9)


def test_it_returns_one_when_there_are_no_discordant_pairs():
    assert mcnemar_exact([True, False, True], [True, False, True]) == 1.0


def test_it_returns_one_for_balanced_discordant_pairs():
    assert mcnemar_exact([True, False] * 4, [False, True] * 4) == 1.0


def test_it_rejects_mismatched_mcnemar_lengths_naming_both():
    with pytest.raises(ValueError, match="baseline has 2 scores but candidate has 3"):
        mcnemar_exact([True, False], [True, False, True])


def test_it_rejects_an_empty_mcnemar_test():
    with pytest.raises(ValueError, match="at least one example"):
        mcnemar_exact([], [])
