"""What moderators read: usage overviews, charts and CSV exports of the ledger."""
