"""Contacts, contact requests, blocking and member info."""

from __future__ import annotations

from typing import Any

from . import notices, views
from .errors import invalid_parameter
from .params import Bool, Int, List, Str
from .registry import MODERN, Ctx
from .state import ContactRequest


def _page(items: list[Any], limitfrom: int, limitnum: int) -> list[Any]:
    start = max(limitfrom, 0)
    return items[start : start + limitnum] if limitnum > 0 else items[start:]


def _known(ctx: Ctx, *userids: int) -> None:
    for uid in userids:
        if uid not in ctx.state.users:
            raise invalid_parameter()


@MODERN.register("core_message_get_user_contacts", userid=Int(), limitfrom=Int(0), limitnum=Int(0))
def get_user_contacts(ctx: Ctx, p: dict[str, Any]) -> list[dict[str, Any]]:
    """A user's confirmed contacts as member records (observed 9e)."""
    ctx.require_messaging()
    userid = p["userid"]
    ctx.require_readall(userid)
    _known(ctx, userid)
    contacts = _page(ctx.state.contacts_of(userid), p["limitfrom"], p["limitnum"])
    return [views.member(ctx.site, userid, c) for c in contacts]


def _incoming(ctx: Ctx, userid: int) -> list[int]:
    """Requesting users, leaving out those the user has blocked."""
    st = ctx.state
    return [
        r.userid
        for r in st.requests.values()
        if r.requesteduserid == userid and not st.is_blocked(userid, r.userid)
    ]


@MODERN.register("core_message_get_contact_requests", userid=Int(), limitfrom=Int(0), limitnum=Int(0))
def get_contact_requests(ctx: Ctx, p: dict[str, Any]) -> list[dict[str, Any]]:
    """The users who asked ``userid`` to become contacts (observed 9c: users, not requests)."""
    ctx.require_messaging()
    userid = p["userid"]
    ctx.require_manageall(userid)
    _known(ctx, userid)
    return [
        views.member(ctx.site, userid, u)
        for u in _page(_incoming(ctx, userid), p["limitfrom"], p["limitnum"])
    ]


@MODERN.register("core_message_get_received_contact_requests_count", userid=Int())
def get_received_contact_requests_count(ctx: Ctx, p: dict[str, Any]) -> int:
    """How many contact requests wait for ``userid``."""
    ctx.require_messaging()
    userid = p["userid"]
    ctx.require_readall(userid)
    return len(_incoming(ctx, userid))


@MODERN.register("core_message_create_contact_request", userid=Int(), requesteduserid=Int())
def create_contact_request(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Ask to become contacts; idempotent; refusal is a warning, not an exception."""
    ctx.require_messaging()
    st = ctx.state
    userid, requested = p["userid"], p["requesteduserid"]
    ctx.require_manageall(userid)
    _known(ctx, userid, requested)
    if not st.can_create_contact(userid, requested):
        warning = {
            "item": "user",
            "itemid": requested,
            "warningcode": "cannotcreatecontactrequest",
            "message": "You are unable to create a contact request for this user",
        }
        return {"warnings": [warning]}
    existing = st.requests_between(userid, requested)
    if existing:
        req = existing[0]
    else:
        req = ContactRequest(st.new_request_id(), userid, requested, st.clock.now())
        st.requests[req.id] = req
        notices.contact_request(st, ctx.site.name, userid, requested)
    request = {
        "id": req.id,
        "userid": req.userid,
        "requesteduserid": req.requesteduserid,
        "timecreated": req.timecreated,
    }
    return {"request": request, "warnings": []}


def _take_request(ctx: Ctx, userid: int, requested: int) -> bool:
    """Remove the pending request; whether there was one. Moodle answers ``[]`` (success)
    for a request that is not pending (moodle-4.5-observed.md item 23)."""
    ctx.require_messaging()
    ctx.require_manageall(requested)
    _known(ctx, userid, requested)
    st = ctx.state
    found = [r for r in st.requests.values() if r.userid == userid and r.requesteduserid == requested]
    for r in found:
        del st.requests[r.id]
    return bool(found)


@MODERN.register("core_message_confirm_contact_request", userid=Int(), requesteduserid=Int())
def confirm_contact_request(ctx: Ctx, p: dict[str, Any]) -> list[Any]:
    """The requested user accepts: the two become contacts."""
    if _take_request(ctx, p["userid"], p["requesteduserid"]) and not ctx.state.is_contact(
        p["userid"], p["requesteduserid"]
    ):
        ctx.state.contacts.append((p["userid"], p["requesteduserid"]))
    return []


@MODERN.register("core_message_decline_contact_request", userid=Int(), requesteduserid=Int())
def decline_contact_request(ctx: Ctx, p: dict[str, Any]) -> list[Any]:
    """The requested user declines: the request goes, nothing else."""
    _take_request(ctx, p["userid"], p["requesteduserid"])
    return []


@MODERN.register("core_message_delete_contacts", userids=List(Int()), userid=Int(0))
def delete_contacts(ctx: Ctx, p: dict[str, Any]) -> None:
    """Remove contacts of ``userid``."""
    userid = ctx.resolve(p["userid"])
    ctx.require_manageall(userid)
    st = ctx.state
    st.contacts[:] = [
        (a, b) for a, b in st.contacts if not ({a, b} & {userid} and {a, b} & set(p["userids"]))
    ]
    return None


@MODERN.register("core_message_block_user", userid=Int(), blockeduserid=Int())
def block_user(ctx: Ctx, p: dict[str, Any]) -> list[Any]:
    """Block a user; silently nothing when they can message regardless (admins, teachers)."""
    ctx.require_messaging()
    userid, blocked = p["userid"], p["blockeduserid"]
    ctx.require_manageall(userid)
    _known(ctx, userid, blocked)
    if userid != blocked and not ctx.state.can_send_message(userid, blocked, evenifblocked=True):
        ctx.state.blocks.add((userid, blocked))
    return []


@MODERN.register("core_message_unblock_user", userid=Int(), unblockeduserid=Int())
def unblock_user(ctx: Ctx, p: dict[str, Any]) -> list[Any]:
    """Lift a block."""
    ctx.require_messaging()
    ctx.require_manageall(p["userid"])
    ctx.state.blocks.discard((p["userid"], p["unblockeduserid"]))
    return []


@MODERN.register("core_message_get_blocked_users", userid=Int())
def get_blocked_users(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """The users ``userid`` has blocked."""
    userid = p["userid"]
    ctx.require_manageall(userid)
    st = ctx.state
    users = [
        {"id": b, "fullname": st.fullname(b), "profileimageurl": ctx.site.pix("core", "u/f1")}
        for a, b in sorted(st.blocks)
        if a == userid
    ]
    return {"users": users, "warnings": []}


@MODERN.register(
    "core_message_get_member_info",
    referenceuserid=Int(),
    userids=List(Int()),
    includecontactrequests=Bool(False),
    includeprivacyinfo=Bool(False),
)
def get_member_info(ctx: Ctx, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Member records of ``userids`` as seen by ``referenceuserid``."""
    ctx.require_messaging()
    ref = p["referenceuserid"]
    ctx.require_readall(ref)
    return [
        views.member(
            ctx.site, ref, u, contactrequests=p["includecontactrequests"], privacyinfo=p["includeprivacyinfo"]
        )
        for u in p["userids"]
        if u in ctx.state.users
    ]


@MODERN.register(
    "core_message_message_search_users", userid=Int(), search=Str(), limitfrom=Int(0), limitnum=Int(0)
)
def message_search_users(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """People whose full name contains ``search``, contacts and non-contacts apart: how an
    ordinary user finds someone, as ``get_users_by_field`` by username finds nobody for them
    (moodle-4.5-observed.md item 19). As Moodle 4.5's ``api::message_search_users``:

    * contacts (either direction) first, then the non-contacts the caller may see: course-mates,
      or everyone with site-wide messaging on; each list ordered by "first last" name and
      paged on its own by ``limitfrom``/``limitnum`` (0: all);
    * the caller is listed too (as a non-contact) when their name matches: every user has a
      self-conversation (observed 8), and Moodle leaves the caller out only without one;
    * an empty ``search`` matches everybody (``LIKE '%%'``);
    * plain member records (no privacy info: ``canmessage`` and ``requirescontact`` null), so
      nothing beyond the name, picture and contact state, never a username or e-mail."""
    ctx.require_messaging()
    userid = p["userid"]
    ctx.require_readall(userid)
    st = ctx.state
    wanted = p["search"].strip().casefold()
    found = [
        u.id
        for u in sorted(st.users.values(), key=lambda u: (f"{u.firstname} {u.lastname}".casefold(), u.id))
        if wanted in u.fullname.casefold() and not u.suspended
    ]
    contacts = [u for u in found if u != userid and st.is_contact(userid, u)]
    others = [
        u
        for u in found
        if u not in contacts and (u == userid or st.config["messagingallusers"] or st.shared_courses(userid, u))
    ]

    def members(ids: list[int]) -> list[dict[str, Any]]:
        return [views.member(ctx.site, userid, u) for u in _page(ids, p["limitfrom"], p["limitnum"])]

    return {"contacts": members(contacts), "noncontacts": members(others)}
