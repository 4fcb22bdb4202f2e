"""Meetings models."""
