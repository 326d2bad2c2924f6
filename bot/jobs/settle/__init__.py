"""Settle: end a job, write its ledger row and keep or retire its files."""
