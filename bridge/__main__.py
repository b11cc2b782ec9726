"""``python -m bridge`` runs the ``pluto-bridge`` command."""

from bridge.cli import main

main()
