"""Order: fair turns, pacing and dispatch of waiting jobs to the provider."""
