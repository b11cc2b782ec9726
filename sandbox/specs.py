"""Where the platforms' official machine-readable specs live.

The checkout sits beside the project's ``shared/`` folder (``shared/specs``); the
environment variable ``PLUTO_BRIDGE_SPECS_DIR`` points elsewhere when it does not.
"""

from __future__ import annotations

import os
from pathlib import Path

_BESIDE_CHECKOUT = Path(__file__).resolve().parents[2] / "shared" / "specs"

SPECS_DIR = Path(os.environ.get("PLUTO_BRIDGE_SPECS_DIR", str(_BESIDE_CHECKOUT)))


def spec_path(name: str) -> Path:
    """The path of one spec file, with a clear error when the folder is missing."""
    path = SPECS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"platform spec {name} not found in {SPECS_DIR}; set PLUTO_BRIDGE_SPECS_DIR to the shared/specs folder"
        )
    return path
