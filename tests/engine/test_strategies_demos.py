"""The demonstration search: random sets and TPE over instruction, demonstration set and layout."""

from __future__ import annotations

import random

import optuna

from tests.engine.test_strategies_support import SENTIMENT_PROMPT, sentiment_context, sentiment_train
from workflows.engine.data import EngineExample
from workflows.engine.strategies.base import HistoryEntry
from workflows.engine.strategies.demos import (
    DemoSearchStrategy,
    demo_limit,
    demo_set_key,
    demo_set_sample,
    demo_set_size,
    demonstration_pool,
    instruction_key,
)


def _keys(proposals):
    return [proposal.content.key for proposal in proposals]


def test_it_proposes_the_same_demonstration_sets_for_the_same_seed():
    for mode in ("random", "bayesian", "mixed"):
        first = DemoSearchStrategy(mode=mode).propose(sentiment_context(seed=5), 4)
        second = DemoSearchStrategy(mode=mode).propose(sentiment_context(seed=5), 4)

        assert len(first) == 4
        assert _keys(first) == _keys(second)
        assert [proposal.params for proposal in first] == [proposal.params for proposal in second]


def test_it_proposes_other_demonstration_sets_for_another_seed():
    by_seed = {seed: tuple(_keys(DemoSearchStrategy().propose(sentiment_context(seed=seed), 4))) for seed in (1, 2, 3)}

    assert len(set(by_seed.values())) > 1


def test_it_takes_demonstrations_only_from_train_and_bootstrapped_outputs():
    context = sentiment_context(bootstrapped=True)
    allowed = {repr((dict(example.inputs), example.expected)) for example in context.train}
    allowed |= {repr((dict(inputs), output)) for inputs, output in context.bootstrapped_demos}

    proposals = DemoSearchStrategy().propose(context, 6)

    assert proposals
    for proposal in proposals:
        assert proposal.content.demonstrations
        for inputs, output in proposal.content.demonstrations:
            assert repr((dict(inputs), output)) in allowed


def test_it_puts_bootstrapped_demonstrations_first_in_the_pool_and_each_input_once():
    context = sentiment_context(bootstrapped=True)

    pool = demonstration_pool(context)

    assert pool[:2] == [(dict(inputs), output) for inputs, output in context.bootstrapped_demos]
    assert len(pool) == len(context.train)


def test_it_balances_labels_in_a_sampled_set():
    pool = [(dict(example.inputs), example.expected) for example in sentiment_train()]

    for seed in range(10):
        demo_set = demo_set_sample(pool, 4, ("positive", "negative"), random.Random(seed))
        assert sorted(output for _inputs, output in demo_set) == ["negative", "negative", "positive", "positive"]


def test_it_allows_fewer_demonstrations_when_inputs_are_long():
    short = [({"text": "fine"}, "positive")] * 6
    long = [({"text": "word " * 400}, "positive")] * 6

    assert demo_limit(short, 4) == 4
    assert demo_limit(long, 4) == 1
    assert demo_limit(short, 0) == 0


def test_it_samples_sets_from_the_upper_half_of_the_sizes_and_reaches_the_limit():
    rng = random.Random(0)

    sizes = {demo_set_size(16, rng) for _ in range(200)}

    assert sizes == set(range(8, 17))
    assert {demo_set_size(1, rng) for _ in range(20)} == {1}
    assert demo_set_size(0, rng) == 0


def test_it_keeps_the_incumbent_instruction_and_layout_in_random_search():
    proposals = DemoSearchStrategy(mode="random").propose(sentiment_context(), 5)

    assert len(proposals) == 5
    for proposal in proposals:
        assert proposal.content.template == SENTIMENT_PROMPT.template
        assert proposal.content.layout == "chat"
        assert 2 <= len(proposal.content.demonstrations) <= 4
        assert proposal.params["mode"] == "random"
        assert proposal.params["demo_set"] == demo_set_key(proposal.content.demonstrations)
        assert "train example" in proposal.rationale


def test_it_never_proposes_the_incumbent_or_a_duplicate():
    demos = tuple((example.inputs, example.expected) for example in sentiment_train()[:2])
    incumbent = SENTIMENT_PROMPT.edit(demonstrations=demos)

    proposals = DemoSearchStrategy().propose(sentiment_context(incumbent=incumbent), 10)
    keys = _keys(proposals)

    assert len(keys) == len(set(keys))
    assert incumbent.key not in keys


def _trial(demo_examples: list[EngineExample], layout: str, score: float, strategy: str = "demos") -> HistoryEntry:
    demos = tuple((example.inputs, example.expected) for example in demo_examples)
    content = SENTIMENT_PROMPT.edit(demonstrations=demos, layout=layout)
    params = {
        "mode": "bayesian",
        "instruction": instruction_key(content),
        "demo_set": demo_set_key(demos),
        "layout": layout,
    }
    return HistoryEntry(content=content, score=score, strategy=strategy, scored_on="minibatch", params=params)


def test_it_replays_earlier_trials_of_this_strategy_into_the_bayesian_search():
    train = sentiment_train()
    history = (
        _trial(train[0:2], "completion", 0.9),
        _trial(train[2:4], "completion", 0.9),
        _trial(train[4:6], "completion", 0.8),
        _trial(train[1:3], "chat", 0.1),
        _trial(train[3:5], "chat", 0.2),
        _trial(train[5:7], "chat", 0.1),
        # Not replayed: another strategy's candidate, and one without the choices in its params.
        _trial(train[0:1], "chat", 1.0, strategy="mutations"),
        HistoryEntry(SENTIMENT_PROMPT.edit(layout="completion"), 0.0, "demos", "minibatch", params={}),
    )

    proposals = DemoSearchStrategy(mode="bayesian").propose(sentiment_context(history=history), 4)

    assert len(proposals) == 4
    for proposal in proposals:
        assert "TPE after 6 earlier trial(s)" in proposal.rationale
        assert proposal.params["mode"] == "bayesian"
        assert proposal.content.layout == proposal.params["layout"]
        assert proposal.content.key not in {entry.content.key for entry in history}
    # TPE has seen completion score far better than chat, so it leans towards completion.
    assert sum(proposal.content.layout == "completion" for proposal in proposals) >= 3


def test_it_replays_each_trial_with_its_params_and_score(monkeypatch):
    train = sentiment_train()
    history = (_trial(train[0:2], "completion", 0.9), _trial(train[2:4], "chat", 0.1))
    added: list[optuna.trial.FrozenTrial] = []
    original_add_trial = optuna.study.Study.add_trial

    def recording_add_trial(study, trial):
        added.append(trial)
        original_add_trial(study, trial)

    monkeypatch.setattr(optuna.study.Study, "add_trial", recording_add_trial)

    DemoSearchStrategy(mode="bayesian").propose(sentiment_context(history=history), 2)

    choices = ("instruction", "demo_set", "layout")
    assert [(trial.params, trial.value) for trial in added] == [
        ({name: entry.params[name] for name in choices}, entry.score) for entry in history
    ]


def test_it_offers_the_instructions_of_earlier_candidates_to_the_bayesian_search():
    rewritten = SENTIMENT_PROMPT.edit(system_instruction="Decide if the review is positive or negative.")
    history = (HistoryEntry(rewritten, 0.95, "critique", "validation"),)

    proposals = DemoSearchStrategy(mode="bayesian").propose(sentiment_context(history=history, seed=2), 12)

    instructions = {proposal.content.system_instruction for proposal in proposals}
    assert instructions == {"", rewritten.system_instruction}
    assert any("earlier candidate (best score 0.95)" in proposal.rationale for proposal in proposals)
