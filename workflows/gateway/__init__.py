"""The gateway: the one path from the engine to a model provider (providers now; cache, retries, budgets next)."""
