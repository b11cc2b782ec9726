"""The bridge's vocabulary: immutable data types shared by the core and the adapters.

Nothing here performs I/O. Adapters translate platform events into these types and
receive these types back; the core never sees a platform SDK object.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Platform(enum.StrEnum):
    """The chat platforms the bridge speaks to."""

    CONSOLE = "console"
    TELEGRAM = "telegram"
    SLACK = "slack"
    DISCORD = "discord"
    TEAMS = "teams"


class Markup(enum.StrEnum):
    """The text markup a platform renders; ``bridge.render`` produces each one."""

    PLAIN = "plain"
    TELEGRAM_HTML = "telegram_html"
    SLACK_MRKDWN = "slack_mrkdwn"
    DISCORD_MARKDOWN = "discord_markdown"
    TEAMS_HTML = "teams_html"


@dataclass(frozen=True, slots=True)
class ChatIdentity:
    """One person on one chat platform.

    ``workspace`` is the Slack team id or the Teams tenant id; empty for platforms with a
    single global user namespace (Telegram, Discord, console).
    """

    platform: Platform
    workspace: str
    user_id: str

    def __str__(self) -> str:
        scope = f"{self.workspace}/" if self.workspace else ""
        return f"{self.platform.value}:{scope}{self.user_id}"


# --- items that travel from the LMS to chat -------------------------------------------


class ItemKind(enum.StrEnum):
    """What an item is; decides routing preferences and which actions it carries."""

    MESSAGE = "message"
    ALERT = "alert"
    TASK = "task"
    CONTACT_REQUEST = "contact_request"
    NOTICE = "notice"  # the bridge's own words to a user (link confirmed, token revoked, ...)


class ConversationType(int, enum.Enum):
    """LMS conversation types (Moodle >= 3.6)."""

    INDIVIDUAL = 1
    GROUP = 2
    SELF = 3


@dataclass(frozen=True, slots=True)
class Cursor:
    """How far intake has read one scope (a conversation) for one LMS user: the newest
    ``timecreated`` seen (inclusive watermark) and the ids already seen at that second."""

    watermark: int
    seen_ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    """What the bridge remembers of a user's LMS conversation: to route replies and ``to``."""

    conversation_id: int
    type: int
    name: str
    peer_id: int | None


@dataclass(frozen=True, slots=True)
class Action:
    """A button offered with a delivered item.

    ``id`` is an opaque token of at most 64 bytes (Telegram's ``callback_data`` cap); the
    core keeps what it means. An action with ``url`` is a link button and never comes back
    as an event.
    """

    id: str
    label: str
    style: str = "default"  # "default" | "primary" | "danger"
    url: str | None = None
    needs_reason: bool = False


@dataclass(frozen=True, slots=True)
class Post:
    """One chat message as an adapter sends it.

    ``text`` is already rendered in the adapter's ``Markup`` and fits its length limit;
    ``fallback`` is the same content as plain text (notifications, screen readers).
    """

    text: str
    fallback: str = ""
    actions: tuple[Action, ...] = ()
    reply_to: str | None = None  # remote message id this post answers
    thread: str | None = None  # remote thread id (Slack thread_ts) to post into


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a post goes: a person's private chat with the bot.

    ``room`` is the platform's id of that chat when known (Telegram chat id, Slack D
    channel, Discord DM channel, Teams conversation id); without it the adapter opens one.
    ``address`` is adapter-owned data captured from an earlier inbound event (the Teams
    conversation reference); the core stores it and hands it back untouched.
    """

    identity: ChatIdentity
    room: str | None = None
    address: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RoomAddress:
    """A shared chat room a Pluto group conversation can be linked to: a Slack channel, a
    Telegram group or supergroup, a Discord guild text channel, a Teams channel or group
    chat, a console room.

    ``workspace`` scopes ``room_id`` where the platform needs it (Slack team id, Teams
    tenant id; empty for Discord, Telegram and the console, whose ids are global): the
    people in the room share it (the store pairs them with the room's). ``service_url`` is
    where the platform is reached for this room (Teams ``serviceUrl``); empty elsewhere.
    ``name`` is the room's title as last seen, for people to read; it is not part of the
    room's identity (``key``).
    """

    platform: Platform
    workspace: str
    room_id: str
    service_url: str = ""
    name: str = ""

    @property
    def key(self) -> str:
        """The room's identity as one string (``platform:workspace/room``): store keys and
        outbox lanes use it."""
        scope = f"{self.workspace}/" if self.workspace else ""
        return f"{self.platform.value}:{scope}{self.room_id}"

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True)
class SentRef:
    """What the platform answered for a sent post: enough to edit or reply to it later."""

    room: str
    message_id: str
    thread: str | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """One thing that travels from the LMS to a person: a message, alert, task, notice.

    ``key`` is unique per LMS item (``msg:345``, ``ntf:88``, ``notice:...``); ``html`` is
    safe HTML (see ``bridge.render``).
    """

    key: str
    kind: ItemKind
    lms_user_id: int
    html: str
    time: int
    author_id: int | None = None
    author_name: str = ""
    conversation_id: int | None = None
    conversation_type: int | None = None
    conversation_name: str = ""
    peer_id: int | None = None
    muted: bool = False
    subject: str = ""
    url: str | None = None
    actions: tuple[Action, ...] = ()
    urgent: bool = False
    lms_id: int | None = None  # the LMS's current id for actions (Totara changes it on read)
    data: dict[str, Any] = field(default_factory=dict)  # provider, requester, task metadata


# --- events that travel from chat to the core ----------------------------------------


@dataclass(frozen=True, slots=True)
class ChatEvent:
    """Common fields of everything a person does in chat.

    ``event_id`` is the platform's own id for this event (Slack event_id, Telegram
    update_id, Discord message/interaction id, Teams activity id): the core processes each
    (platform, event_id) once. ``room`` is where it happened; ``is_private`` says whether that
    is the person's private chat with the bot. ``address`` is adapter-owned data the core
    should store to reach this person later (see ``Destination``). ``handle`` (without @),
    ``workspace_name`` and ``picture_url`` describe the account where the platform says
    them: the sign-in page shows them so a person sees whose chat will get their messages.
    ``shared`` is the room's address when the event happened in a shared room the bridge
    can link to a Pluto group conversation (``is_private`` is then False); None in private
    chats and on platforms without rooms.
    """

    identity: ChatIdentity
    event_id: str
    room: str
    display_name: str = ""
    is_private: bool = True
    address: Mapping[str, Any] | None = None
    handle: str = ""
    workspace_name: str = ""
    picture_url: str = ""
    shared: RoomAddress | None = None


@dataclass(frozen=True, slots=True)
class ContactEvent(ChatEvent):
    """The person made contact without writing: started the bot, installed the app, opened
    a DM. The core remembers how to reach them (``room``, ``address``) and greets them."""


@dataclass(frozen=True, slots=True)
class MessageEvent(ChatEvent):
    """A person wrote text. ``text`` is plain text: platform escaping undone, mentions
    resolved to names. ``reply_to`` is the remote id of the message they replied to and
    ``thread`` the thread they wrote in, if any; ``reply_text`` the replied-to message's
    text where the platform includes it (the bridge's header names its conversation)."""

    text: str = ""
    reply_to: str | None = None
    thread: str | None = None
    reply_text: str = ""


class RoomChange(enum.StrEnum):
    """What happened to a shared room (``RoomEvent``)."""

    BOT_ADDED = "bot_added"  # the bot is (back) in the room
    BOT_REMOVED = "bot_removed"  # the bot was removed, or the room deleted
    ARCHIVED = "archived"
    UNARCHIVED = "unarchived"
    MEMBER_JOINED = "member_joined"
    MEMBER_LEFT = "member_left"
    MOVED = "moved"  # the room has a new address (Telegram supergroup migration): ``moved_to``
    EDITED = "edited"  # a person edited a message there (edits are not carried to Pluto)
    DELETED = "deleted"  # a person deleted a message there (deletions are not carried)


@dataclass(frozen=True, slots=True)
class RoomEvent(ChatEvent):
    """Something happened to a shared room (``shared``): the bot was removed or added, a
    member joined or left, the room moved, a message was edited or deleted. ``identity``
    is the person concerned (who joined, who edited; whoever the platform names for the
    bot's removal). ``moved_to`` is the room's new address for ``MOVED``."""

    change: RoomChange = RoomChange.BOT_ADDED
    moved_to: RoomAddress | None = None


@dataclass(frozen=True, slots=True)
class CommandEvent(ChatEvent):
    """A person issued a bridge command (slash command, menu command, typed keyword).

    Adapters hand over ``text``, the command as typed after the platform's command word;
    the core's parser (``bridge.inbound.parse``) fills ``name`` (one of ``COMMANDS``, or
    what was typed instead) and ``args`` (the rest of the line, unparsed). A platform that
    delivers commands structured (Discord) may set ``name`` and ``args`` itself.
    """

    name: str = ""
    args: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class ActionEvent(ChatEvent):
    """A person pressed a button the bridge had sent. ``action_id`` is ``Action.id``;
    ``reason`` is text the person typed with it (a task decision's reason), if any;
    ``message`` is the pressed message."""

    action_id: str = ""
    reason: str = ""
    message: SentRef | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """The core's answer to an event, shown only to the person who acted (ephemeral
    where the platform can). ``texts`` are rendered in the adapter's markup, each within
    its limit. ``replace`` is the new content of the pressed message for platforms that
    update it in the interaction response (Teams ``Action.Execute``, Discord type 7)."""

    texts: tuple[str, ...] = ()
    actions: tuple[Action, ...] = ()
    replace: Post | None = None


# --- commands -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A bridge command as the platforms publish it (Telegram menu, Slack subcommand,
    Discord subcommand, Teams typed keyword)."""

    name: str
    usage: str
    description: str


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("link", "link [CODE]", "Connect this chat account to your Pluto account"),
    CommandSpec(
        "unlink", "unlink [all]", "Disconnect from Pluto and forget your Pluto token (all: every chat linked to you)"
    ),
    CommandSpec(
        "to", "to NAME", "Send what you write next to this Pluto conversation (a name, part of one, or a number)"
    ),
    CommandSpec("find", "find NAME", "Find people in Pluto you may message, contacts first"),
    CommandSpec("msg", "msg NAME TEXT", "Send one message to a person or conversation"),
    CommandSpec("conversations", "conversations", "Your recent Pluto conversations with unread counts"),
    CommandSpec("status", "status", "Show your link and current conversation"),
    CommandSpec("tasks", "tasks", "Your open tasks and unread alerts, newest first, with their numbers"),
    CommandSpec("ack", "ack ID... | ack all", "Mark alerts read (all of them with: ack all)"),
    CommandSpec("accept", "accept ID [REASON]", "Accept a task or a contact request"),
    CommandSpec("decline", "decline ID [REASON]", "Decline (reject) a task or a contact request"),
    CommandSpec("dismiss", "dismiss ID", "Dismiss a task or alert without deciding"),
    CommandSpec("prefs", "prefs [SETTING VALUE]", "Where alerts and tasks go, quiet hours, notification types"),
    CommandSpec("contacts", "contacts", "Your Pluto contacts and contact requests, both ways"),
    CommandSpec("contact", "contact add|remove NAME", "Ask someone to become your Pluto contact, or remove one"),
    CommandSpec("block", "block NAME", "Block someone from messaging you in Pluto"),
    CommandSpec("unblock", "unblock NAME", "Lift a block"),
    CommandSpec("mute", "mute [NAME]", "Mute the current conversation (or NAME) in Pluto: no more deliveries here"),
    CommandSpec("unmute", "unmute [NAME]", "Unmute the current conversation (or NAME)"),
    CommandSpec("privacy", "privacy [contacts|course|site]", "Show or set who can message you in Pluto"),
    CommandSpec(
        "bulk",
        "bulk [COURSE [group NAME | role ROLE]: TEXT | confirm | cancel | status]",
        "Message everyone in a course, group or role you teach, one private message each, as you",
    ),
    CommandSpec(
        "room",
        "room [unlink | status]",
        "In a group chat room: link it to one of your Pluto group conversations, unlink it, or show its state",
    ),
    CommandSpec("help", "help", "What this bot does and the commands it knows"),
)

COMMAND_NAMES: frozenset[str] = frozenset(c.name for c in COMMANDS)


# --- what adapters declare -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pace:
    """At most ``count`` sends in any window of ``seconds``, as platforms publish their
    limits (``bridge.pacing``: a sliding window; a send counts from when it was answered).
    A burst of ``count`` goes at once; declare a platform's real limits."""

    count: float
    seconds: float


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Per-platform limits and features, declared as data and enforced by the core.

    ``max_text`` is counted by ``measure``, applied to the rendered markup, the way the
    platform counts (see ``bridge.render.measure``: characters for Discord and Slack,
    UTF-16 units after entity parsing for Telegram, JSON bytes for Teams). ``per_room``
    paces sends into one chat; ``overall`` paces the whole bot. ``threads`` says the
    platform threads replies (Slack), so the core gives each LMS conversation its own
    thread. ``edits`` says sent messages can be changed; without it an item's outcome is
    sent as a new message instead of retiring the old one's buttons.
    ``private_replies`` says an answer to an event in a shared room (channel, group) is
    seen only by the person who acted (Slack and Discord ephemeral answers); without it
    the core answers commands from shared rooms in the person's private chat instead.
    ``opens_room`` says a send to someone whose room the core does not know yet first opens
    one (Discord's DM channel): two requests, so it takes two turns of ``overall``.
    ``rooms`` says the adapter links shared rooms to Pluto group conversations (the
    ``Adapter`` room methods work); ``room_pace`` paces sends into one shared room where
    the platform limits those apart from private chats (Telegram's 20 per minute per
    group); empty: ``per_room`` applies.
    """

    markup: Markup
    max_text: int
    max_actions: int = 5
    per_room: tuple[Pace, ...] = ()
    overall: tuple[Pace, ...] = ()
    threads: bool = False
    edits: bool = True
    private_replies: bool = False
    opens_room: bool = False
    measure: Callable[[str], int] = len
    rooms: bool = False
    room_pace: tuple[Pace, ...] = ()


@dataclass(frozen=True, slots=True)
class Delivered:
    """What the dispatcher records after a send: one ref per chunk, in order."""

    refs: tuple[SentRef, ...] = field(default_factory=tuple)
