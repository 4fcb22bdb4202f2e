"""Reads of the agendas: templates, agendas and their timeline, topics, the live run's
state."""
