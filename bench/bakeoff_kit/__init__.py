"""The bake-off against DSPy (bench/bakeoff.py): tasks and splits, the shared task-model server, one runner per
system, and the report. Benchmark code only: nothing here is imported by the product."""
