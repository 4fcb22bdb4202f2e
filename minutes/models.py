"""Minutes models."""
