"""Web-service functions: a registry per mode, and what a handler gets to work with.

A mode is a named set of functions (``modern`` now; ``totara`` drops the conversation
functions and adds its own), so a second mode adds or removes entries without touching
the handlers of the first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import access_denied, messaging_disabled, no_capability, no_permission
from .params import Spec, clean_args
from .state import CAPABILITY_NAMES, State, Token
from .views import Site

Handler = Callable[["Ctx", dict[str, Any]], Any]


@dataclass
class Ctx:
    """One call: the site, the token and its user."""

    site: Site
    token: Token
    functions: list[str]

    @property
    def state(self) -> State:
        return self.site.state

    @property
    def userid(self) -> int:
        return self.token.userid

    @property
    def is_admin(self) -> bool:
        return self.state.is_admin(self.userid)

    def resolve(self, userid: int) -> int:
        """``0`` means the token user, as in most messaging functions."""
        return userid or self.userid

    def require_messaging(self) -> None:
        """Throw ``disabled`` when site messaging is off."""
        if not self.state.config["messaging"]:
            raise messaging_disabled()

    def require_readall(self, userid: int) -> None:
        """Acting for another user needs moodle/site:readallmessages (observed 4b shape)."""
        if userid != self.userid and not self.is_admin:
            raise no_permission()

    def require_manageall(self, userid: int) -> None:
        """Acting for another user needs moodle/site:manageallmessaging."""
        if userid != self.userid and not self.is_admin:
            raise no_capability("Manage all messaging")

    def require_capability(self, courseid: int, capability: str) -> None:
        """``required_capability_exception`` unless the token user holds it in the course."""
        if not self.state.has_capability(self.userid, courseid, capability):
            raise no_capability(CAPABILITY_NAMES[capability])

    def require_self_or_access(self, userid: int) -> None:
        """Checks that answer ``accessdenied`` (observed 7e)."""
        if userid != self.userid and not self.is_admin:
            raise access_denied()


@dataclass(frozen=True)
class Function:
    """A web-service function: its parameter description and its handler."""

    name: str
    params: Mapping[str, Spec]
    handler: Handler

    def call(self, ctx: Ctx, raw: Mapping[str, Any]) -> Any:
        """Validate ``raw`` and run the handler."""
        return self.handler(ctx, clean_args(self.params, raw))


@dataclass
class Registry:
    """Functions by name; a mode's service list is a subset of them."""

    functions: dict[str, Function] = field(default_factory=dict)

    def register(self, fname: str, /, **params: Spec) -> Callable[[Handler], Handler]:
        """Decorator: ``@registry.register("core_x", userid=Int())``."""

        def wrap(handler: Handler) -> Handler:
            self.functions[fname] = Function(fname, params, handler)
            return handler

        return wrap


MODERN = Registry()
