"""Web UI pages for the dashboard, runs, evaluations, comparisons and the playground."""
