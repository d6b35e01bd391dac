"""Screens pushed over the main view: plot, stop confirmation, alert context, help."""
