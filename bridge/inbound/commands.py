"""The platform-neutral command set: parse, act, answer (as safe HTML).

Every platform publishes ``bridge.model.COMMANDS`` in its own form (Telegram menu,
Slack ``/pluto`` subcommands, Discord slash subcommands, Teams typed keywords, console
``/``); this module does what they mean.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bridge import notices
from bridge.actions import ItemActions
from bridge.bulk.command import BulkCommand
from bridge.inbound.contacts import ContactCommands
from bridge.inbound.item_commands import ItemCommands
from bridge.inbound.people import People
from bridge.inbound.relay import Answer, Relay
from bridge.linking import LinkError, Linking
from bridge.lms.api import LmsApi
from bridge.lms.errors import LmsError, LmsUnavailable, TokenRejected
from bridge.model import COMMANDS, CommandEvent
from bridge.profile import Profile, Profiles
from bridge.render import escape
from bridge.rooms.command import RoomCommand
from bridge.store.records import Link, LinkStatus
from bridge.store.store import Store

PeopleCommand = Callable[[CommandEvent, Link], Awaitable[str | Answer]]


class Commands(ItemCommands, ContactCommands):
    """Runs one command for one person and returns the answer as safe HTML."""

    def __init__(
        self,
        store: Store,
        api: LmsApi,
        linking: Linking,
        actions: ItemActions,
        profiles: Profiles | None = None,
        bulk: BulkCommand | None = None,
        rooms: RoomCommand | None = None,
        people: People | None = None,
    ) -> None:
        self.store = store
        self.profiles = profiles or Profiles()
        self.api = api
        self.linking = linking
        self.actions = actions
        self.bulk = bulk
        self.rooms = rooms
        # The people commands send as the relay does; a bridge built without one gets its own.
        self.people = people or People(store, api, Relay(store, api, profiles=self.profiles), self.profiles)
        self.people.contacts = self  # its Add contact and Block buttons are these commands'

    async def run(self, event: CommandEvent, link: Link | None) -> str | Answer:
        handler = getattr(self, f"_cmd_{event.name}", None)
        if handler is None:
            # One policy everywhere: answered with help, never relayed as a message.
            return f"<p>Unknown command {escape(event.name)}.</p>" + self.help_text(self._profile(event))
        answer = await handler(event, link)
        return answer if isinstance(answer, Answer) else str(answer)

    async def _cmd_bulk(self, event: CommandEvent, link: Link | None) -> str | Answer:
        linked = await self._linked(event, link)
        if isinstance(linked, str) or self.bulk is None:
            return linked if isinstance(linked, str) else "<p>Bulk messages are not available here.</p>"
        return await self.bulk.run(event, linked)

    async def _cmd_room(self, event: CommandEvent, link: Link | None) -> str | Answer:
        if self.rooms is None:
            return "<p>Group rooms are not available here.</p>"
        return await self.rooms.run(event, link)

    def help_text(self, profile: Profile) -> str:
        lines = "".join(
            f"<li>{notices.command_usage(profile, c.usage)}: {escape(c.description)}</li>"
            for c in (*COMMANDS, *profile.own_commands)
        )
        return (
            "<p>Pluto Bridge relays your Pluto LMS messages here and what you write back to Pluto, as you. "
            "Reply to a message to answer its conversation; anything else goes to your current conversation.</p>"
            f"<ul>{lines}</ul>"
        )

    async def _cmd_help(self, event: CommandEvent, link: Link | None) -> str:
        return self.help_text(self._profile(event))

    async def _cmd_link(self, event: CommandEvent, link: Link | None) -> str:
        code = event.args.strip()
        if code and not event.is_private:
            # Others saw the code: whoever sends it first would get this Pluto account.
            await self.linking.burn_code(code)
            return (
                "<p>That code was shown where others can read it, so it no longer works. "
                "Sign in again for a new one and send it only in your private chat with me.</p>"
            )
        if code:
            try:
                new = await self.linking.complete_from_chat(event, code)
            except LinkError as exc:
                return f"<p>{escape(str(exc))}</p>"
            return f"<p>Linking to Pluto as {escape(new.lms_fullname)}…</p>"
        url = await self.linking.start_from_chat(event)
        minutes = self.linking.code_ttl // 60
        prefix = (
            f"<p>You are linked as {escape(link.lms_fullname)}; signing in again replaces that link.</p>"
            if link is not None
            else ""
        )
        return (
            f"{prefix}<p>Open this page to sign in to Pluto (valid {minutes} minutes, once): "
            f'<a href="{escape(url)}">{escape(url)}</a></p>'
            "<p>Your password goes to Pluto only; the bridge keeps just your Pluto token, encrypted.</p>"
        )

    async def _cmd_unlink(self, event: CommandEvent, link: Link | None) -> str:
        revoke = (
            "<p>To be sure nobody can use it, you can also reset the key on Pluto's "
            f'<a href="{escape(self.linking.security_keys_url)}">Security keys</a> page.</p>'
        )
        if event.args.strip().lower() == "all":
            gone = await self.linking.unlink_all(event.identity)
            if not gone:
                return "<p>This chat account is not linked to Pluto.</p>"
            where = ", ".join(escape(str(g.identity)) for g in gone)
            return (
                f"<p>Unlinked every chat from your Pluto account ({where}). The bridge deleted your Pluto token "
                "and will not relay anything more.</p>" + revoke
            )
        removed = await self.linking.unlink(event.identity)
        if removed is None:
            return "<p>This chat account is not linked to Pluto.</p>"
        return (
            f"<p>Unlinked from Pluto ({escape(removed.lms_fullname)}). The bridge deleted your Pluto token and "
            "will not relay anything more.</p>" + revoke
        )

    async def _cmd_status(self, event: CommandEvent, link: Link | None) -> str:
        if link is None:
            return notices.how_to_link(self._profile(event))
        state = {
            "active": "active",
            "needs_signin": "needs a new sign-in (send link)",
            "inactive": f"inactive: {link.status_reason}",
        }.get(link.status, link.status)
        current = "none"
        if link.current_conversation_id is not None or link.current_peer_id is not None:
            current = await self._current_name(link)
        return (
            f"<p>Linked to Pluto as <b>{escape(link.lms_fullname)}</b> ({escape(link.lms_username)}); "
            f"link {escape(state)}.</p><p>Current conversation: {escape(current)}</p>"
        )

    async def _current_name(self, link: Link) -> str:
        for info in await self.store.conversations_of(link.lms_user_id):
            if info.conversation_id == link.current_conversation_id or (
                link.current_conversation_id is None and info.peer_id == link.current_peer_id
            ):
                return info.name
        return (
            f"user {link.current_peer_id}" if link.current_peer_id else f"conversation {link.current_conversation_id}"
        )

    async def _cmd_to(self, event: CommandEvent, link: Link | None) -> str | Answer:
        linked = await self._linked(event, link)
        return linked if isinstance(linked, str) else await self._people(self.people.to, event, linked)

    async def _cmd_msg(self, event: CommandEvent, link: Link | None) -> str | Answer:
        linked = await self._linked(event, link)
        return linked if isinstance(linked, str) else await self._people(self.people.msg, event, linked)

    async def _cmd_find(self, event: CommandEvent, link: Link | None) -> str | Answer:
        linked = await self._linked(event, link)
        return linked if isinstance(linked, str) else await self._people(self.people.find, event, linked)

    async def _cmd_conversations(self, event: CommandEvent, link: Link | None) -> str | Answer:
        linked = await self._linked(event, link)
        return linked if isinstance(linked, str) else await self._people(self.people.conversations, event, linked)

    async def _people(self, command: PeopleCommand, event: CommandEvent, link: Link) -> str | Answer:
        """Run a people command; Pluto's refusal or silence is said, not raised."""
        try:
            return await command(event, link)
        except TokenRejected:
            await self.store.set_link_status(link.id, LinkStatus.NEEDS_SIGNIN, "the LMS rejected the token")
            return notices.signin_lost(self._profile(event), "Not done")
        except (LmsError, LmsUnavailable) as exc:
            return f"<p>Pluto did not answer that: {escape(str(exc))}</p>"
