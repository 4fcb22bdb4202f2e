"""Every write of the agendas: the standing template, each meeting's agenda, topics for
future meetings, and the live run."""
