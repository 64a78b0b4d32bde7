"""The gated write path: every Delta write of a pipeline table goes through ``gated_write``."""

from pipelines.gate.write import GateError, GateReport, Txn, deferred_results, gated_write

__all__ = ["GateError", "GateReport", "Txn", "deferred_results", "gated_write"]
