"""The gateway: the one path from the engine to a model provider, with cache, retries, budgets and usage."""
