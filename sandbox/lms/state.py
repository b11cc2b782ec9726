"""The sandbox LMS's data and Moodle's messaging rules over it (no HTTP here).

Tables mirror Moodle 4.5: messages and notifications have separate id counters; read
state of messages lives per user (``message_user_actions``), of notifications in
``timeread``; group conversations follow their course group's membership.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .clock import Clock

ADMIN_ID = 2
NOREPLY_ID = -10
SUPPORT_ID = -20

TYPE_INDIVIDUAL = 1
TYPE_GROUP = 2
TYPE_SELF = 3

PRIVACY_ONLYCONTACTS = 1
PRIVACY_COURSEMEMBER = 0
PRIVACY_SITE = 2

MESSAGE_MAX_LENGTH = 4096  # bytes: Moodle checks with PHP strlen()
PROCESSORS = {"popup": "Web", "email": "Email", "airnotifier": "Mobile"}
DEFAULT_PROCESSORS = ("popup", "email", "airnotifier")

# Held by teachers in course context by default (domain.md 2.2 step 4).
MESSAGE_ANY_USER = "moodle/site:messageanyuser"
ACCESS_ALL_GROUPS = "moodle/site:accessallgroups"
ROLE_REVIEW = "moodle/role:review"
BULK_MESSAGING = "moodle/course:bulkmessaging"
VIEW_PARTICIPANTS = "moodle/course:viewparticipants"
MANAGE_GROUPS = "moodle/course:managegroups"
# Course-context capabilities of Moodle's standard roles (lib/db/access.php archetypes), as far
# as the sandbox's functions ask: bulk messaging is for managers, teachers and non-editing
# teachers (domain.md MD-BULKCAP); only editing teachers and managers see every group.
DEFAULT_ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    "manager": frozenset(
        {MESSAGE_ANY_USER, ACCESS_ALL_GROUPS, ROLE_REVIEW, BULK_MESSAGING, VIEW_PARTICIPANTS, MANAGE_GROUPS}
    ),
    "editingteacher": frozenset(
        {MESSAGE_ANY_USER, ACCESS_ALL_GROUPS, ROLE_REVIEW, BULK_MESSAGING, VIEW_PARTICIPANTS, MANAGE_GROUPS}
    ),
    "teacher": frozenset({MESSAGE_ANY_USER, ROLE_REVIEW, BULK_MESSAGING, VIEW_PARTICIPANTS}),
    "student": frozenset({VIEW_PARTICIPANTS}),
}
CAPABILITY_NAMES = {
    MESSAGE_ANY_USER: "Ignore user's privacy preferences and message any user",
    ACCESS_ALL_GROUPS: "Access all groups",
    ROLE_REVIEW: "Review permissions for others",
    BULK_MESSAGING: "Send a message to many people",
    VIEW_PARTICIPANTS: "View participants",
    MANAGE_GROUPS: "Manage groups",
}
TEACHER_ROLES = ("editingteacher", "teacher")
ROLE_IDS = {"manager": 1, "coursecreator": 2, "editingteacher": 3, "teacher": 4, "student": 5}


@dataclass
class User:
    """An LMS account."""

    id: int
    username: str
    password: str
    firstname: str
    lastname: str
    email: str
    prefs: dict[str, str] = field(default_factory=dict)
    emailstop: int = 0
    suspended: bool = False
    self_conversation: int | None = None

    @property
    def fullname(self) -> str:
        return f"{self.firstname} {self.lastname}".strip() or self.username


@dataclass
class Course:
    """A course and its enrolments (user id -> role shortname)."""

    id: int
    shortname: str
    fullname: str
    enrolments: dict[int, str] = field(default_factory=dict)


@dataclass
class Group:
    """A course group; with messaging on it owns one group conversation."""

    id: int
    courseid: int
    name: str
    members: list[int]
    conversation_id: int | None = None
    description: str = ""
    descriptionformat: int = 1
    enrolmentkey: str = ""
    idnumber: str = ""
    visibility: int = 0  # 0 all, 1 members, 2 own membership, 3 hidden
    participation: bool = True


@dataclass
class Conversation:
    """A conversation; group members are read from the group, others are fixed."""

    id: int
    type: int
    fixed_members: list[int]
    groupid: int | None = None
    timecreated: int = 0
    favourites: set[int] = field(default_factory=set)
    muted: set[int] = field(default_factory=set)


@dataclass
class Message:
    """One conversation message, raw as sent."""

    id: int
    conversationid: int
    useridfrom: int
    text: str
    textformat: int
    timecreated: int
    read_by: dict[int, int] = field(default_factory=dict)  # user id -> timeread
    deleted_for: set[int] = field(default_factory=set)
    key: int = 0  # internal, never changes (``id`` does in legacy mode when read)


@dataclass
class Notification:
    """One row of Moodle's ``notifications`` table."""

    id: int
    useridfrom: int
    useridto: int
    subject: str
    fullmessage: str
    fullmessageformat: int
    fullmessagehtml: str
    smallmessage: str | None
    component: str
    eventtype: str
    contexturl: str
    contexturlname: str | None
    timecreated: int
    customdata: str | None
    timeread: int | None = None
    key: int = 0  # internal, never changes (``id`` does in legacy mode when read)


@dataclass
class ContactRequest:
    """A pending contact request."""

    id: int
    userid: int
    requesteduserid: int
    timecreated: int


@dataclass
class TaskMeta:
    """Totara ``message_metadata`` of an alert or task."""

    msgtype: int
    urgency: int
    icon: str
    workflow: str | None  # the onaccept/onreject plugin (facetoface, plan, prog_extension); None: none
    data: dict[str, object]
    acceptbutton: str
    rejectbutton: str
    needsreason: bool
    outcome: bool  # what the workflow returns when run
    msgstatus: int = 0  # 0 undecided, 1 ok, 2 not ok


@dataclass(frozen=True)
class TaskAction:
    """A task workflow the LMS ran (what the "other system" saw)."""

    messageid: int
    userid: int
    action: str
    reasonfordecision: str
    workflow: str | None
    data: dict[str, object]
    result: bool
    time: int


@dataclass(frozen=True)
class Device:
    """A mobile device registered with ``core_user_add_user_device``."""

    userid: int
    appid: str
    name: str
    model: str
    platform: str
    version: str
    pushid: str
    uuid: str
    publickey: str = ""  # base64 sodium public key (core_user_update_user_device_public_key)


@dataclass
class Token:
    """A web-service token: one user, one service (``functions`` None = the full list)."""

    token: str
    userid: int
    service: str
    functions: frozenset[str] | None
    expired: bool = False  # past ``validuntil``


class State:
    """Everything the sandbox LMS knows, plus Moodle's rules that read it."""

    def __init__(self, clock: Clock, legacy: bool = False) -> None:
        self.clock = clock
        # Legacy (Totara) messaging: messages and notifications share the ``message`` table;
        # reading moves a row to ``message_read`` under a new id; privacy is the pre-3.6 rule.
        self.legacy = legacy
        self.users: dict[int, User] = {}
        self.courses: dict[int, Course] = {}
        self.groups: dict[int, Group] = {}
        self.conversations: dict[int, Conversation] = {}
        # Who is in which conversation, so that listing one user's is not a walk over every
        # user's (10,000 self-conversations in the scale bench); groups' members change.
        self._fixed_of: dict[int, list[int]] = {}
        self._group_conversations: list[int] = []
        self.messages: dict[int, Message] = {}
        self.notifications: dict[int, Notification] = {}
        self.requests: dict[int, ContactRequest] = {}
        self.contacts: list[tuple[int, int]] = []  # creation order; symmetric
        self.blocks: set[tuple[int, int]] = set()  # (blocker, blocked)
        self.tokens: dict[str, Token] = {}
        # The site's role definitions (Site administration > Define roles): role -> capabilities.
        self.role_capabilities: dict[str, set[str]] = {r: set(c) for r, c in DEFAULT_ROLE_CAPABILITIES.items()}
        # Booleans, except ``maxeditingtime`` (seconds a forum post stays editable, observed 16).
        self.config: dict[str, int] = {"messaging": True, "messagingallusers": False, "maxeditingtime": 1800}
        self._user_ids = itertools.count(ADMIN_ID)
        self._course_ids = itertools.count(2)  # course 1 is the site
        self._group_ids = itertools.count(1)
        self._conversation_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._notification_ids = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._read_ids = itertools.count(1)  # legacy ``message_read`` table
        self.task_meta: dict[int, TaskMeta] = {}  # notification key -> metadata
        # notification key -> task-list reads still to leave it out (metadata written late)
        self.listing_delays: dict[int, int] = {}
        self.devices: list[Device] = []
        # Called with every new message or notification (the airnotifier output listens).
        self.listeners: list[Callable[[Message | Notification], None]] = []
        self.task_actions: list[TaskAction] = []
        # Users signed in through login/token.php whose "New sign in" waits for cron (observed 20).
        self.login_queue: list[int] = []
        self._keys = itertools.count(1)

    # --- records --------------------------------------------------------------------

    def add_user(self, username: str, password: str, firstname: str, lastname: str, email: str) -> User:
        """Create an account; ids start at 2 (the admin)."""
        if any(u.username == username for u in self.users.values()):
            raise ValueError(f"username {username!r} is taken")
        user = User(next(self._user_ids), username, password, firstname, lastname, email)
        self.users[user.id] = user
        return user

    def user(self, userid: int) -> User:
        """The user with that id (KeyError when none)."""
        return self.users[userid]

    def fullname(self, userid: int) -> str:
        """A display name, including Moodle's pseudo-users noreply and support."""
        if userid == NOREPLY_ID:
            return "Do not reply to this email"
        if userid == SUPPORT_ID:
            return "Support"
        user = self.users.get(userid)
        return user.fullname if user else ""

    def add_course(self, shortname: str, fullname: str) -> Course:
        """Create a course."""
        course = Course(next(self._course_ids), shortname, fullname)
        self.courses[course.id] = course
        return course

    def add_group(self, courseid: int, name: str, member_ids: list[int], messaging: bool) -> Group:
        """Create a course group and, with messaging on, its group conversation."""
        course = self.courses[courseid]
        for uid in member_ids:
            if uid not in course.enrolments:
                raise ValueError(f"user {uid} is not enrolled in course {courseid}")
        group = Group(next(self._group_ids), courseid, name, list(dict.fromkeys(member_ids)))
        self.groups[group.id] = group
        if messaging and not self.legacy:  # Totara has no group conversations
            conv = self._new_conversation(TYPE_GROUP, [], groupid=group.id)
            group.conversation_id = conv.id
        return group

    def _new_conversation(self, ctype: int, members: list[int], groupid: int | None = None) -> Conversation:
        conv = Conversation(next(self._conversation_ids), ctype, members, groupid, self.clock.now())
        self.conversations[conv.id] = conv
        if groupid is not None:
            self._group_conversations.append(conv.id)
        else:
            for member in set(members):
                self._fixed_of.setdefault(member, []).append(conv.id)
        return conv

    def new_message_id(self) -> int:
        """Next id of the ``messages`` table."""
        return next(self._message_ids)

    def new_notification_id(self) -> int:
        """Next id of the ``notifications`` table (legacy: of the shared ``message`` table)."""
        return next(self._message_ids if self.legacy else self._notification_ids)

    def store_notification(self, note: Notification) -> None:
        """Keep a new notification."""
        note.key = next(self._keys)
        self.notifications[note.key] = note
        for listener in self.listeners:
            listener(note)

    def find_message(self, msgid: int) -> Message | None:
        """A message by its public id (legacy: unread rows only, as ``message`` holds them)."""
        for m in self.messages.values():
            if m.id == msgid and not (self.legacy and self.message_read_by_recipient(m)):
                return m
        return None

    def find_notification(self, noteid: int) -> Notification | None:
        """A notification by its public id (legacy: unread rows only)."""
        for n in self.notifications.values():
            if n.id == noteid and not (self.legacy and n.timeread is not None):
                return n
        return None

    def message_read_by_recipient(self, m: Message) -> bool:
        """Whether a one-to-one message was read by its recipient."""
        conv = self.conversations[m.conversationid]
        return any(u in m.read_by for u in self.members(conv) if u != m.useridfrom)

    def mark_message_read(self, m: Message, userid: int, when: int) -> None:
        """Record that ``userid`` read ``m`` (legacy: the row moves and gets a new id)."""
        if userid in m.read_by:
            return
        m.read_by[userid] = when
        if self.legacy:
            m.id = next(self._read_ids)

    def mark_notification_read(self, n: Notification, when: int) -> None:
        """Record that the recipient read ``n`` (legacy: the row moves and gets a new id)."""
        if n.timeread is not None:
            return
        n.timeread = when
        if self.legacy:
            n.id = next(self._read_ids)

    def new_request_id(self) -> int:
        """Next id of ``message_contact_requests``."""
        return next(self._request_ids)

    def new_token(self, userid: int, service: str, functions: frozenset[str] | None) -> Token:
        """Mint a token (32 hex characters, like Moodle's md5 tokens)."""
        token = Token(secrets.token_hex(16), userid, service, functions)
        self.tokens[token.token] = token
        return token

    # --- conversations ---------------------------------------------------------------

    def members(self, conv: Conversation) -> list[int]:
        """Current members; a group conversation's are its group's."""
        if conv.groupid is not None:
            return list(self.groups[conv.groupid].members)
        return list(conv.fixed_members)

    def is_member(self, userid: int, conv: Conversation) -> bool:
        """Whether ``userid`` belongs to ``conv``."""
        return userid in self.members(conv)

    def self_conversation(self, userid: int) -> Conversation:
        """The user's self-conversation, created on first use and favourited (as Moodle does)."""
        user = self.users[userid]
        if user.self_conversation is None:
            conv = self._new_conversation(TYPE_SELF, [userid])
            conv.favourites.add(userid)
            user.self_conversation = conv.id
        return self.conversations[user.self_conversation]

    def individual_between(self, a: int, b: int) -> Conversation | None:
        """The one-to-one conversation of ``a`` and ``b`` (self-conversation when equal)."""
        if a == b:
            return self.self_conversation(a) if a in self.users else None
        pair = {a, b}
        for conv in self.conversations.values():
            if conv.type == TYPE_INDIVIDUAL and set(conv.fixed_members) == pair:
                return conv
        return None

    def get_or_create_individual(self, a: int, b: int) -> Conversation:
        """As ``individual_between``, creating the conversation on first send."""
        conv = self.individual_between(a, b)
        if conv is None:
            conv = self._new_conversation(TYPE_INDIVIDUAL, [a, b])
        return conv

    def conversations_of(self, userid: int) -> Iterator[Conversation]:
        """Every conversation ``userid`` is a member of, in id order."""
        ids = self._fixed_of.get(userid, []) + [
            c for c in self._group_conversations if self.is_member(userid, self.conversations[c])
        ]
        for conv_id in sorted(ids):
            yield self.conversations[conv_id]

    def visible_messages(self, conv: Conversation, userid: int) -> list[Message]:
        """Messages of ``conv`` not deleted for ``userid``, in id order."""
        return [
            m for m in self.messages.values() if m.conversationid == conv.id and userid not in m.deleted_for
        ]

    def unread(self, conv: Conversation, userid: int) -> list[Message]:
        """Messages from others in ``conv`` that ``userid`` has not read."""
        return [
            m
            for m in self.visible_messages(conv, userid)
            if m.useridfrom != userid and userid not in m.read_by
        ]

    def add_message(self, conv: Conversation, userid: int, text: str, textformat: int) -> Message:
        """Store a message; the sender has read their own message."""
        msg = Message(self.new_message_id(), conv.id, userid, text, textformat, self.clock.now())
        msg.key = next(self._keys)
        self.messages[msg.key] = msg
        for listener in self.listeners:
            listener(msg)
        return msg

    # --- people and privacy ------------------------------------------------------------

    def is_admin(self, userid: int) -> bool:
        """Site admin: holds readallmessages, manageallmessaging, messageanyuser."""
        return userid == ADMIN_ID

    def shared_courses(self, a: int, b: int) -> list[Course]:
        """Courses both users are enrolled in."""
        return [c for c in self.courses.values() if a in c.enrolments and b in c.enrolments]

    def has_capability(self, userid: int, courseid: int, capability: str) -> bool:
        """Whether the user holds ``capability`` in the course (the admin holds every one)."""
        if self.is_admin(userid):
            return True
        course = self.courses.get(courseid)
        role = course.enrolments.get(userid) if course is not None else None
        return role is not None and capability in self.role_capabilities.get(role, set())

    def can_message_any_in_shared_course(self, sender: int, recipient: int) -> bool:
        """Sender holds moodle/site:messageanyuser in a course shared with the recipient."""
        return any(self.has_capability(sender, c.id, MESSAGE_ANY_USER) for c in self.shared_courses(sender, recipient))

    def is_contact(self, a: int, b: int) -> bool:
        """Contacts are symmetric."""
        return (a, b) in self.contacts or (b, a) in self.contacts

    def contacts_of(self, userid: int) -> list[int]:
        """The user's contacts, in the order they were made."""
        return [b if a == userid else a for a, b in self.contacts if userid in (a, b)]

    def is_blocked(self, blocker: int, blocked: int) -> bool:
        """Whether ``blocker`` has blocked ``blocked``."""
        return (blocker, blocked) in self.blocks

    def privacy(self, userid: int) -> int:
        """Effective ``message_blocknoncontacts``: SITE only counts with messagingallusers on."""
        raw = self.users[userid].prefs.get("message_blocknoncontacts")
        if self.legacy:
            return PRIVACY_ONLYCONTACTS if raw == "1" else PRIVACY_COURSEMEMBER
        allusers = self.config["messagingallusers"]
        if raw is None or raw == "":
            return PRIVACY_SITE if allusers else PRIVACY_COURSEMEMBER
        value = int(raw)
        if value == PRIVACY_SITE and not allusers:
            return PRIVACY_COURSEMEMBER
        return value

    def can_send_message(self, recipient: int, sender: int, evenifblocked: bool = False) -> bool:
        """Moodle's ``api::can_send_message`` / ``can_contact_user`` for a one-to-one message."""
        if sender == recipient or self.is_admin(sender):
            return True
        if self.legacy:
            # Totara / pre-3.6: blocks, and a boolean "block non-contacts" preference.
            if evenifblocked:
                return False
            if self.is_blocked(recipient, sender):
                return False
            onlycontacts = self.users[recipient].prefs.get("message_blocknoncontacts") == "1"
            return not onlycontacts or self.is_contact(sender, recipient)
        if evenifblocked:
            return self.can_message_any_in_shared_course(sender, recipient)
        allowed = not self.is_blocked(recipient, sender) and (
            self.privacy(recipient) == PRIVACY_SITE
            or self.is_contact(sender, recipient)
            or (
                self.privacy(recipient) == PRIVACY_COURSEMEMBER
                and bool(self.shared_courses(sender, recipient))
            )
        )
        return allowed or self.can_message_any_in_shared_course(sender, recipient)

    def requires_contact(self, userid: int, other: int) -> bool:
        """``other`` only accepts contacts and ``userid`` is not one."""
        return self.privacy(other) == PRIVACY_ONLYCONTACTS and not self.is_contact(userid, other)

    def processors_enabled(self, userid: int, component: str, name: str) -> set[str]:
        """Outputs a user wants for one provider (4.0+ ``message_provider_*_enabled``)."""
        raw = self.users[userid].prefs.get(f"message_provider_{component}_{name}_enabled")
        if raw is None:
            return set(DEFAULT_PROCESSORS)
        return set() if raw == "none" else {p for p in raw.split(",") if p}

    def can_create_contact(self, userid: int, requested: int) -> bool:
        """``api::can_create_contact``: messaging on, and site-wide messaging or a shared course."""
        if not self.config["messaging"] or userid == requested or self.is_contact(userid, requested):
            return False
        return bool(self.config["messagingallusers"]) or bool(self.shared_courses(userid, requested))

    def requests_between(self, a: int, b: int) -> list[ContactRequest]:
        """Pending contact requests in either direction."""
        return [r for r in self.requests.values() if {r.userid, r.requesteduserid} == {a, b}]

    def can_post_to_conversation(self, userid: int, conv: Conversation) -> bool:
        """``api::can_send_message_to_conversation``."""
        if not self.is_member(userid, conv):
            return False
        if conv.type == TYPE_INDIVIDUAL:
            other = next((m for m in conv.fixed_members if m != userid), userid)
            return self.can_send_message(other, userid)
        return True
