"""Agendas models."""
