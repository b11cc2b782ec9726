"""Pluto Bridge: Pluto LMS messaging, alerts and tasks relayed to chat platforms and back."""

__version__ = "0.1.0"
