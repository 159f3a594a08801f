"""Web UI pages for prompts and datasets."""
