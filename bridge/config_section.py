"""The base of every settings section (``bridge.config``, ``bridge.config_platforms``)."""

from __future__ import annotations

from pydantic import BaseModel


class Section(BaseModel):
    """A TOML table of settings: an unknown key is an error that names it."""

    model_config = {"extra": "forbid"}
