"""Monitoring and alerts (``profilake-monitor``, docs/operations.md "Monitoring and alerts").

``rules`` turns measured figures into metrics and alerts (pure); ``lake``, ``kafka_lag`` and
``runs`` measure them (Delta tables, Kafka offsets, MLflow runs); ``store`` appends them to
the ``metrics`` and ``alerts`` tables through the gate; ``webhook`` posts new alerts;
``prometheus`` renders the latest metrics for the read API's ``/metrics``.
"""
