"""``python -m bridge`` runs the ``pluto-bridge`` command."""

import gc

gc.disable()  # during the imports, as ``main`` does for the console script (see bridge.cli)

from bridge.cli import main  # noqa: E402

main()
