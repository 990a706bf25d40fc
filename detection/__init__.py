"""Faultline's pure core: rules, records, conditions, KQL, windows, detection and fingerprints.

Nothing here performs I/O, reads the clock or imports Azure or GitHub code; time and data are
passed in, so everything is testable with plain values (and property-based tests).
"""
