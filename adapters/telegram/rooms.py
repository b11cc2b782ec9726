"""Telegram groups and supergroups as rooms (issue 16): posts with the author's name as a
header line, administrators may link, privacy mode said in ``room status``, the bot
removed or added back (``my_chat_member``), supergroup migration (``migrate_to_chat_id``),
joins, leaves and edits."""

from __future__ import annotations

import html
import logging
from typing import Any

from telegram import ChatMemberUpdated, LinkPreviewOptions, Message, Update, User
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError
from telegram.ext import ChatMemberHandler, MessageHandler, filters

from adapters.telegram.errors import _map_error
from adapters.telegram.inbound import Context, TelegramInbound
from adapters.telegram.outbound import _int_id, _keyboard
from bridge.model import ChatIdentity, Platform, Post, Reply, RoomAddress, RoomChange, RoomEvent, SentRef
from bridge.ports import RoomUnavailable

log = logging.getLogger(__name__)

GROUP_TYPES = (ChatType.GROUP, ChatType.SUPERGROUP)
MANAGERS = (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)
GONE = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)
PRIVACY_ON = (
    "Privacy mode is on: in this group the bot sees only commands and replies to its own messages. "
    "Reply to a relayed message to write to Pluto. To relay every message, turn privacy mode off "
    "with @BotFather (/setprivacy, Disable), then remove the bot from this group and add it again."
)
PRIVACY_OFF = "Privacy mode is off: every message members write here is relayed."


def room_of(message: Message) -> RoomAddress | None:
    """The group a message was written in, as a room; None for private chats and channels."""
    chat = message.chat
    if chat.type not in GROUP_TYPES:
        return None
    return RoomAddress(Platform.TELEGRAM, "", str(chat.id), name=chat.title or "")


def bot_change(update: ChatMemberUpdated) -> RoomChange | None:
    """What a ``my_chat_member`` update means for the room: removed, added, or nothing."""
    old, new = update.old_chat_member.status, update.new_chat_member.status
    if new in GONE and old not in GONE:
        return RoomChange.BOT_REMOVED
    if old in GONE and new not in GONE:
        return RoomChange.BOT_ADDED
    return None


def update_room(update: Update) -> RoomAddress | None:
    """The group an update concerns (message, edit or membership), as a room."""
    if update.my_chat_member is not None:
        chat = update.my_chat_member.chat
        if chat.type in GROUP_TYPES:
            return RoomAddress(Platform.TELEGRAM, "", str(chat.id), name=chat.title or "")
        return None
    message = update.effective_message
    return room_of(message) if message is not None else None


class TelegramRooms(TelegramInbound):
    """The adapter's groups: the room calls of the ``bridge.ports.Adapter`` contract, and the
    group updates (the bot removed or added, migration, joins, leaves, edits) as room events."""

    async def send_to_room(self, room: RoomAddress, post: Post, author: str) -> SentRef:
        """sendMessage into the group, the author's name in bold on the first line."""
        self._require_connected()
        header = f"<b>{html.escape(author, quote=False)}</b>\n" if author else ""
        chat_id = _int_id(room.room_id, "chat id")
        for _ in range(2):  # once more at the new id when the group became a supergroup
            try:
                message = await self._app.bot.send_message(
                    chat_id=chat_id,
                    text=header + post.text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                    reply_markup=_keyboard(post.actions),
                )
                return SentRef(room=str(message.chat.id), message_id=str(message.message_id))
            except ChatMigrated as exc:
                chat_id = exc.new_chat_id
            except Forbidden as exc:
                raise RoomUnavailable(f"the bot is not in the group any more ({exc.message})") from exc
            except BadRequest as exc:
                if "chat not found" in exc.message.lower():
                    raise RoomUnavailable("the group no longer exists") from exc
                raise _map_error(exc) from exc
            except TelegramError as exc:
                raise _map_error(exc) from exc
        raise RoomUnavailable("the group moved twice")

    async def can_manage(self, room: RoomAddress, identity: ChatIdentity) -> bool | None:
        """Group administrators (and its creator) may link it."""
        try:
            member = await self._app.bot.get_chat_member(_int_id(room.room_id, "chat id"), int(identity.user_id))
        except (TelegramError, ValueError) as exc:
            log.info("telegram: getChatMember %s in %s failed: %s", identity.user_id, room.room_id, exc)
            return None
        return member.status in MANAGERS

    async def room_problem(self, room: RoomAddress) -> str | None:
        try:
            await self._app.bot.get_chat(_int_id(room.room_id, "chat id"))
        except Forbidden:
            return "the bot was removed from the group"
        except ChatMigrated:
            return None  # the migration's update moves the link
        except BadRequest as exc:
            return f"the group cannot be reached ({exc.message})"
        except TelegramError:
            return None  # not a verdict on the room
        return None

    async def room_notes(self, room: RoomAddress) -> tuple[str, ...]:
        """Which privacy mode is in force (getMe's ``can_read_all_group_messages``)."""
        try:
            me = await self._app.bot.get_me()
        except TelegramError:
            return ()
        return (PRIVACY_OFF if me.can_read_all_group_messages else PRIVACY_ON,)

    # --- inbound: what happens in groups ------------------------------------------------

    @staticmethod
    def _common(update: Update, message: Message) -> dict[str, Any] | None:
        """As ``TelegramInbound._common``, with the group as the event's shared room."""
        common = TelegramInbound._common(update, message)
        if common is not None:
            common["shared"] = room_of(message)
        return common

    def _add_handlers(self) -> None:
        if self._app.handlers:
            return
        super()._add_handlers()
        groups = filters.ChatType.GROUPS
        self._app.add_handlers(
            [
                ChatMemberHandler(self._settling(self._on_bot_member), ChatMemberHandler.MY_CHAT_MEMBER, block=False),
                MessageHandler(groups & filters.StatusUpdate.MIGRATE, self._settling(self._on_migrate), block=False),
                MessageHandler(
                    groups & (filters.StatusUpdate.NEW_CHAT_MEMBERS | filters.StatusUpdate.LEFT_CHAT_MEMBER),
                    self._settling(self._on_members),
                    block=False,
                ),
                MessageHandler(
                    groups & filters.UpdateType.EDITED_MESSAGE, self._settling(self._on_group_edit), block=False
                ),
            ]
        )

    async def _room_event(self, update: Update, user: User, room: RoomAddress, change: RoomChange, **more: Any) -> None:
        event = RoomEvent(
            identity=ChatIdentity(Platform.TELEGRAM, "", str(user.id)),
            event_id=str(update.update_id),  # the journal's key, and what confirms the update
            room=room.room_id,
            display_name=user.full_name,
            is_private=False,
            shared=room,
            change=change,
            **more,
        )
        await self._submit(event, _nothing)

    async def _on_bot_member(self, update: Update, context: Context) -> None:
        changed = update.my_chat_member
        room = update_room(update)
        if changed is None or room is None:
            return
        change = bot_change(changed)
        if change is not None:
            await self._room_event(update, changed.from_user, room, change)

    async def _on_migrate(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None or message.migrate_to_chat_id is None or message.from_user is None:
            return  # the new supergroup's own "migrated from" message says nothing new
        room = room_of(message)
        if room is None:
            return
        moved = RoomAddress(Platform.TELEGRAM, "", str(message.migrate_to_chat_id), name=room.name)
        await self._room_event(update, message.from_user, room, RoomChange.MOVED, moved_to=moved)

    async def _on_members(self, update: Update, context: Context) -> None:
        message = update.effective_message
        room = room_of(message) if message is not None else None
        if message is None or room is None:
            return
        # One event per update (its id is the journal's key): the first person named.
        joined = next((u for u in message.new_chat_members or () if not u.is_bot), None)
        left = message.left_chat_member
        if joined is not None:
            await self._room_event(update, joined, room, RoomChange.MEMBER_JOINED)
        elif left is not None and not left.is_bot:
            await self._room_event(update, left, room, RoomChange.MEMBER_LEFT)

    async def _on_group_edit(self, update: Update, context: Context) -> None:
        message = update.edited_message
        room = room_of(message) if message is not None else None
        if message is None or room is None or message.from_user is None or message.from_user.is_bot:
            return
        await self._room_event(update, message.from_user, room, RoomChange.EDITED)


async def _nothing(reply: Reply | None) -> None:
    return None
