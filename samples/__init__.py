"""Deterministic sample telemetry for running and testing Faultline without a real workspace."""
