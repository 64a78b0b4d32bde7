"""Entry points: parse arguments, load conf, call pipelines (spark-submit jobs and CLIs)."""
