"""Scoring, lifecycle, routing and hand-off rules: pure functions, no I/O.

So far this holds the condition language (``conditions.py``) that the rules of
issue 3 are written in; scoring, stages and routing build on it there. In the
first path (issue 2) every mapped lead is planned for the CRM as it is.
"""
