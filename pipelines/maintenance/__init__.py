"""Table maintenance (jobs/maintain_tables.py, docs/operations.md "Table maintenance"):
which tables, what to run on each (OPTIMIZE, Z-ORDER, VACUUM, checkpoint), and the
small-file health report. ``params``, ``plan`` and ``health`` are pure; ``delta_ops`` talks to
Delta and ``run`` strings them together per table."""
