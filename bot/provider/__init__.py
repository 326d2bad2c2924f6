"""The Images API provider: the HTTP client, the wire format and the translation of failures."""
