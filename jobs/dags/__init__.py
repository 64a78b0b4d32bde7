"""Scheduler definitions: the daily batch as plain data and as an Airflow DAG (docs/operations.md,
"Scheduling")."""
