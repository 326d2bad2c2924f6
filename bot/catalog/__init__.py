"""Models are data: the catalog (TOML) of prices, sizes and limits, and pure pricing."""
