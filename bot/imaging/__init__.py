"""Images in and out: intake, masks, conversion (Pillow), uploads within Discord's limits."""
