"""Rooms models."""
