"""The relaxed speed: jobs gathered into Batch API batches, followed, settled from their lines."""
