"""Verification: the bounds as printed, statistics, the claims, the runner and the report."""
