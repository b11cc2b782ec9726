"""Totara mode: the pre-3.5 messaging surface plus the proposed ``local_pluto_*`` task functions.

Totara kept Moodle 3.3's messaging: no conversation, contact-request, mute or favourite
functions; personal messages and notifications share the ``message`` table and move to
``message_read`` under a new id when read; tasks and alerts are ``totara_message``
notifications with metadata. ``local_pluto_get_tasks`` and ``local_pluto_task_action`` are
not a Totara API: they answer as the repository's plugin ``lms-plugins/local_pluto`` does
(lms-api.md section 5.2 proposed it): same shapes, same errors, same warnings.
"""

from __future__ import annotations

from typing import Any

from . import notices, ws_contacts, ws_conversations, ws_notifications, ws_send, ws_site  # noqa: F401 (registers)
from .errors import invalid_parameter, missing_record, no_capability
from .params import ALPHANUMEXT, Bool, Int, List, Str, Struct, optional
from .registry import MODERN, Ctx, Registry
from .state import Message, Notification, State, TaskAction, TaskMeta
from .textformat import FORMATS, format_text

TOTARA = Registry()
MSGTYPE_LINK = 10  # TOTARA_MSG_TYPE_LINK: a task that must be opened, never accepted in bulk

_SHARED = (
    "core_webservice_get_site_info",
    "core_user_get_users_by_field",
    "core_user_update_user_preferences",
    "core_user_get_user_preferences",
    "core_enrol_get_enrolled_users",
    "core_message_get_blocked_users",
    "core_message_get_user_message_preferences",
    "core_message_get_unread_conversations_count",
    "core_message_delete_contacts",
    "core_message_mark_all_notifications_as_read",
    "message_popup_get_popup_notifications",
    "message_popup_get_unread_popup_notification_count",
)
for _name in _SHARED:
    TOTARA.functions[_name] = MODERN.functions[_name]

_MODERN_ONLY_KEYS = ("component", "eventtype", "customdata", "iconurl")


def send_legacy(
    st: State, sender: int, touserid: int, text: str, textformat: int, clientmsgid: str | None = None
) -> dict[str, Any]:
    """One Totara ``send_instant_messages`` item: ``{msgid, msgtext | errormessage, clientmsgid?}``."""
    result: dict[str, Any] = {"msgid": -1}
    if clientmsgid is not None:
        result["clientmsgid"] = clientmsgid
    recipient = st.users.get(touserid)
    error: str | None = None
    if recipient is None:
        error = f"You can not send a message to a user id ({touserid}) that doesn't exist"
    elif not st.can_send_message(touserid, sender):
        if st.is_blocked(touserid, sender):
            error = "This user has blocked you from sending messages to them."
        else:
            error = f"{recipient.fullname} only accepts messages from their contacts."
    if error is not None:
        result["errormessage"] = error
        return result
    # Totara has no length check here (lms-api.md 4.2).
    msg = st.add_message(st.get_or_create_individual(sender, touserid), sender, text, textformat)
    result |= {"msgid": msg.id, "msgtext": format_text(text, textformat)}
    return result


@TOTARA.register(
    "core_message_send_instant_messages",
    messages=List(
        Struct(
            {
                "touserid": Int(),
                "text": Str(),
                "textformat": Int(0),
                "clientmsgid": optional(Str(pattern=ALPHANUMEXT)),
            }
        )
    ),
)
def send_instant_messages(ctx: Ctx, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Send one-to-one messages as the token user (Totara result shape)."""
    ctx.require_messaging()
    return [
        send_legacy(
            ctx.state,
            ctx.userid,
            m["touserid"],
            m["text"],
            m["textformat"] if m["textformat"] in FORMATS else 0,
            m.get("clientmsgid"),
        )
        for m in p["messages"]
    ]


@TOTARA.register(
    "core_message_get_messages",
    useridto=Int(),
    useridfrom=Int(0),
    type=Str("both"),
    read=Bool(True),
    newestfirst=Bool(True),
    limitfrom=Int(0),
    limitnum=Int(0),
)
def get_messages(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """As in Moodle, but ``read`` is a plain boolean and rows carry no component/eventtype/customdata."""
    body: dict[str, Any] = ws_notifications.get_messages(ctx, {**p, "read": "1" if p["read"] else "0"})
    for row in body["messages"]:
        for key in _MODERN_ONLY_KEYS:
            row.pop(key, None)
    return body


def _recipient(st: State, m: Message) -> int:
    conv = st.conversations[m.conversationid]
    return next((u for u in st.members(conv) if u != m.useridfrom), m.useridfrom)


def _unread_item(st: State, itemid: int) -> tuple[Message | None, Notification | None, int]:
    """The unread row of the ``message`` table with that id, and its recipient."""
    msg = st.find_message(itemid)
    if msg is not None:
        return msg, None, _recipient(st, msg)
    note = st.find_notification(itemid)
    if note is not None:
        return None, note, note.useridto
    raise missing_record("message")


@TOTARA.register("core_message_mark_message_read", messageid=Int(), timeread=Int(0))
def mark_message_read(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Move a message or notification to ``message_read``; returns its NEW id."""
    st = ctx.state
    msg, note, recipient = _unread_item(st, p["messageid"])
    if recipient != ctx.userid:
        raise invalid_parameter()
    when = p["timeread"] or st.clock.now()
    if msg is not None:
        st.mark_message_read(msg, recipient, when)
        return {"messageid": msg.id, "warnings": []}
    assert note is not None
    st.mark_notification_read(note, when)
    return {"messageid": note.id, "warnings": []}


@TOTARA.register("core_message_mark_all_messages_as_read", useridto=Int(), useridfrom=Int(0))
def mark_all_messages_as_read(ctx: Ctx, p: dict[str, Any]) -> bool:
    """Mark every unread personal message to ``useridto`` (from ``useridfrom``) read."""
    to = p["useridto"]
    if to != ctx.userid and not ctx.is_admin:
        raise no_capability("Delete any messages")
    st = ctx.state
    now = st.clock.now()
    for m in list(st.messages.values()):
        if p["useridfrom"] and m.useridfrom != p["useridfrom"]:
            continue
        if m.useridfrom != to and _recipient(st, m) == to:
            st.mark_message_read(m, to, now)
    return True


def _contact_entry(ctx: Ctx, uid: int, unread: int) -> dict[str, Any]:
    return {
        "id": uid,
        "fullname": ctx.state.fullname(uid),
        "profileimageurl": ctx.site.pix("core", "u/f1"),
        "profileimageurlsmall": ctx.site.pix("core", "u/f2"),
        "unread": unread,
    }


@TOTARA.register("core_message_get_contacts")
def get_contacts(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """The token user's contacts (all "offline") and "strangers" with unread messages."""
    st, me = ctx.state, ctx.userid
    unread: dict[int, int] = {}
    for m in st.messages.values():
        if m.useridfrom != me and _recipient(st, m) == me and me not in m.read_by:
            unread[m.useridfrom] = unread.get(m.useridfrom, 0) + 1
    contacts = [c for c in st.contacts_of(me) if not st.is_blocked(me, c)]
    strangers = [u for u in unread if u not in contacts and not st.is_blocked(me, u)]
    return {
        "online": [],
        "offline": [_contact_entry(ctx, c, unread.get(c, 0)) for c in contacts],
        "strangers": [_contact_entry(ctx, u, unread[u]) for u in strangers],
    }


def _contact_targets(ctx: Ctx, p: dict[str, Any]) -> tuple[int, list[int], list[dict[str, Any]]]:
    userid = ctx.resolve(p["userid"])
    ctx.require_manageall(userid)
    ok, warnings = [], []
    for uid in p["userids"]:
        if uid in ctx.state.users and uid != userid:
            ok.append(uid)
        else:
            warnings.append(
                {"item": "user", "itemid": uid, "warningcode": "contactnotcreated", "message": "Invalid user"}
            )
    return userid, ok, warnings


_CONTACT_ARGS: dict[str, Any] = {"userids": List(Int()), "userid": Int(0)}


@TOTARA.register("core_message_create_contacts", **_CONTACT_ARGS)
def create_contacts(ctx: Ctx, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Add contacts directly (no requests before 3.6)."""
    userid, targets, warnings = _contact_targets(ctx, p)
    for uid in targets:
        if not ctx.state.is_contact(userid, uid):
            ctx.state.contacts.append((userid, uid))
    return warnings


@TOTARA.register("core_message_block_contacts", **_CONTACT_ARGS)
def block_contacts(ctx: Ctx, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Block users (``message_contacts.blocked``)."""
    userid, targets, warnings = _contact_targets(ctx, p)
    for uid in targets:
        ctx.state.blocks.add((userid, uid))
    return warnings


@TOTARA.register("core_message_unblock_contacts", **_CONTACT_ARGS)
def unblock_contacts(ctx: Ctx, p: dict[str, Any]) -> None:
    """Lift blocks."""
    userid, targets, _ = _contact_targets(ctx, p)
    for uid in targets:
        ctx.state.blocks.discard((userid, uid))
    return None


def _task_row(ctx: Ctx, note: Notification) -> dict[str, Any]:
    meta = ctx.state.task_meta[note.key]
    is_task = note.eventtype == "task"
    return {
        "id": note.id,
        "type": note.eventtype,
        "subject": note.subject,
        "fullmessagehtml": ctx.site.absolute(note.fullmessagehtml),
        "useridfrom": note.useridfrom,
        "timecreated": note.timecreated,
        "contexturl": ctx.site.absolute(note.contexturl),
        "contexturlname": note.contexturlname,
        "msgtype": meta.msgtype,
        "msgstatus": meta.msgstatus,
        "urgency": meta.urgency,
        "icon": meta.icon,
        # As the plugin: a link task (msgtype 10) is opened in Totara, not accepted.
        "canaccept": is_task and meta.workflow is not None and meta.msgtype != MSGTYPE_LINK,
        "canreject": is_task and meta.workflow is not None,
        "acceptbutton": meta.acceptbutton,
        "rejectbutton": meta.rejectbutton,
        "needsreason": meta.needsreason,
    }


def _alert_requester(st: State, task: Notification, meta: TaskMeta, action: str, reason: str) -> None:
    """The sample approval workflow: the learner who asked is told the decision, as
    Totara's seminar workflow sends an "approved" or "declined" alert."""
    learner = meta.data.get("learnerid")
    if not isinstance(learner, int) or learner not in st.users:
        return
    what = str(meta.data.get("title") or task.subject)
    verdict = "approved" if action == "accept" else "declined"
    text = f"Your request ({what}) was {verdict}." + (f" Reason: {reason}" if reason else "")
    alert = notices.add_notification(
        st, learner, subject=f"Request {verdict}: {what}", fullmessage=text, fullmessagehtml=f"<p>{text}</p>",
        smallmessage=text, component="totara_message", eventtype="alert", useridfrom=task.useridto,
        contexturl=task.contexturl, contexturlname=task.contexturlname,
    )
    st.task_meta[alert.key] = TaskMeta(meta.msgtype, 0, meta.icon, None, {}, "", "", False, True)


def _refused(note: Notification, code: str, message: str) -> dict[str, Any]:
    """Nothing done, with the plugin's warning saying why."""
    warning = {"item": "notification", "itemid": note.id, "warningcode": code, "message": message}
    return {"status": False, "newmessageid": note.id, "warnings": [warning]}


@TOTARA.register("local_pluto_get_tasks", type=Str(pattern="task|alert"))
def get_tasks(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Custom: the token user's undismissed tasks or alerts, newest first, with metadata."""
    st = ctx.state
    items = [
        n
        for n in st.notifications.values()
        if n.useridto == ctx.userid
        and n.timeread is None
        and n.component == "totara_message"
        and n.eventtype == p["type"]
        and n.key in st.task_meta
    ]
    items.sort(key=lambda n: (n.timecreated, n.id), reverse=True)
    return {"tasks": [_task_row(ctx, n) for n in items if not _listing_delayed(st, n)]}


def _listing_delayed(st: State, note: Notification) -> bool:
    """Totara writes a task's metadata after its row: until then the row is an unread
    notification that the task list does not show (``delay_task_listing``)."""
    left = st.listing_delays.get(note.key, 0)
    if left <= 0:
        return False
    st.listing_delays[note.key] = left - 1
    return True


@TOTARA.register(
    "local_pluto_task_action",
    messageid=Int(),
    action=Str(pattern="accept|reject|dismiss"),
    reasonfordecision=Str(""),
)
def task_action(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Custom: accept/reject (runs the workflow, then dismisses) or dismiss a task or alert."""
    st = ctx.state
    note = st.find_notification(p["messageid"])
    if note is None or note.key not in st.task_meta:
        raise missing_record("notifications")  # unknown, or already handled
    if note.useridto != ctx.userid:
        raise invalid_parameter()  # only the recipient acts (totara/message/action.php)
    meta = st.task_meta[note.key]
    now = st.clock.now()
    action = p["action"]
    if action != "dismiss":
        if note.eventtype != "task":
            raise invalid_parameter()  # alerts can only be dismissed
        if meta.workflow is None:
            return _refused(note, "nohandler", f"This task has nothing to {action}; it can be dismissed.")
        if action == "accept" and meta.msgtype == MSGTYPE_LINK:
            return _refused(note, "linktask", "This task must be opened in Totara to be acted on.")
        result = meta.outcome
        st.task_actions.append(
            TaskAction(
                note.id, ctx.userid, action, p["reasonfordecision"], meta.workflow, meta.data, result, now
            )
        )
        if not result:  # the workflow refused (e.g. the seminar is full): the task stays
            return {"status": False, "newmessageid": note.id, "warnings": []}
        meta.msgstatus = 1 if action == "accept" else 2
        _alert_requester(st, note, meta, action, p["reasonfordecision"])
    st.mark_notification_read(note, now)
    return {"status": True, "newmessageid": note.id, "warnings": []}
