"""Community safety at admission: blocklist, moderation screening, cool-downs, named styles."""
