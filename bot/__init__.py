"""A self-hosted Discord bot for OpenAI image generation."""

__version__ = "0.1.0"
