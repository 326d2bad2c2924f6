"""Guild settings for moderators: validated, audited changes over the store's SQL."""
