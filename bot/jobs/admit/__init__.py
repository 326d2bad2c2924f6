"""Admit: check a request, reserve its budget and record the job (or refuse it)."""
