"""Scoring, lifecycle, routing and hand-off rules (issue 3). Pure functions, no I/O.

Nothing lives here yet: in this first path every mapped lead is planned for the
CRM as it is.
"""
