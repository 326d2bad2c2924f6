"""Running the bot as a service: health, metrics, logs, backups."""
