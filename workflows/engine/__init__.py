"""The optimization engine: the five-step loop, its strategies, and the final test — plain Python, no Django."""
