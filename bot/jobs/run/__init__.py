"""Run: prepare a job's inputs and make its provider calls."""
