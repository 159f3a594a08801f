"""Strategies that propose candidate prompts, behind one `Strategy.propose` interface."""
