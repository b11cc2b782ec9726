"""Site, user and preference functions."""

from __future__ import annotations

import dataclasses
from typing import Any

from .errors import invalid_parameter, no_capability
from .params import Int, List, Str, Struct, optional
from .registry import MODERN, Ctx
from .state import PROCESSORS, Device
from .views import user_record


@MODERN.register("core_webservice_get_site_info", serviceshortnames=List(Str(), default=[]))
def get_site_info(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Describes the token's user, the site and the functions the token may call."""
    st, site = ctx.state, ctx.site
    user = st.user(ctx.userid)
    features = {
        "usecomments": 1,
        "usetags": 1,
        "enablenotes": 1,
        "messaging": int(st.config["messaging"]),
        "enableblogs": 1,
        "enablecompletion": 1,
        "enablebadges": 1,
        "messagingallusers": int(st.config["messagingallusers"]),
        "enablecustomreports": 1,
        "mnet_dispatcher_mode": 0,
        "enableglobalsearch": 0,
        "enablecompetencies": 1,
    }
    return {
        "sitename": site.name,
        "username": user.username,
        "firstname": user.firstname,
        "lastname": user.lastname,
        "fullname": user.fullname,
        "lang": "en",
        "userid": user.id,
        "siteurl": site.url,
        "userpictureurl": site.pix("core", "u/f1"),
        "functions": [{"name": name, "version": site.version} for name in ctx.functions],
        "downloadfiles": 1,
        "uploadfiles": 1,
        "release": site.release,
        "version": site.version,
        "mobilecssurl": "",
        "advancedfeatures": [{"name": k, "value": v} for k, v in features.items()],
        "usercanmanageownfiles": True,
        "userquota": 104857600,
        "usermaxuploadfilesize": 67108864,
        "userhomepage": 1,
        "userprivateaccesskey": ctx.token.token[::-1],
        "siteid": 1,
        "sitecalendartype": "gregorian",
        "usercalendartype": "gregorian",
        "userissiteadmin": ctx.is_admin,
        "theme": "boost",
        "limitconcurrentlogins": 0,
        "policyagreed": 0,
    }


@MODERN.register("core_user_get_users_by_field", field=Str(), values=List(Str()))
def get_users_by_field(ctx: Ctx, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Users whose ``field`` is one of ``values``; private fields only for self and admins.

    Users the caller may not see (no shared course or conversation) are left out, as
    Moodle omits them. A search by ``username`` finds only the caller themselves unless
    they are an administrator: Moodle returns a user only when the searched field is among
    the details the caller may see (moodle-4.5-observed.md item 19).
    """
    field = p["field"]
    if field not in ("id", "idnumber", "username", "email"):
        raise invalid_parameter()
    out = []
    for user in ctx.state.users.values():
        value = {"id": str(user.id), "idnumber": "", "username": user.username, "email": user.email}[field]
        if field == "username" and not (ctx.is_admin or user.id == ctx.userid):
            continue
        if value in p["values"] and _can_view(ctx, user.id):
            out.append(user_record(ctx.site, user.id, full=ctx.is_admin or user.id == ctx.userid))
    return out


def _can_view(ctx: Ctx, userid: int) -> bool:
    st = ctx.state
    if ctx.is_admin or userid == ctx.userid or st.shared_courses(ctx.userid, userid):
        return True
    return any(st.is_member(userid, conv) for conv in st.conversations_of(ctx.userid))


def _require_edit_profile(ctx: Ctx, userid: int) -> None:
    if userid != ctx.userid and not ctx.is_admin:
        raise no_capability("Edit user message profile")


_PREFERENCE_VALUES = {"message_blocknoncontacts": {"0", "1", "2"}}


@MODERN.register(
    "core_user_update_user_preferences",
    userid=Int(0),
    emailstop=Int(None, allow_null=True),
    preferences=List(Struct({"type": Str(), "value": optional(Str(allow_null=True))}), default=[]),
)
def update_user_preferences(ctx: Ctx, p: dict[str, Any]) -> None:
    """Set (or, with no value, unset) preferences and the ``emailstop`` switch."""
    userid = ctx.resolve(p["userid"])
    _require_edit_profile(ctx, userid)
    if userid not in ctx.state.users:
        raise invalid_parameter()
    user = ctx.state.user(userid)
    if p["emailstop"] is not None:
        user.emailstop = 1 if p["emailstop"] else 0
    for pref in p["preferences"]:
        name, value = pref["type"], pref.get("value")
        if value is None:
            user.prefs.pop(name, None)
            continue
        allowed = _PREFERENCE_VALUES.get(name)
        if allowed is not None and value not in allowed:
            raise invalid_parameter()
        user.prefs[name] = value
    return None


@MODERN.register("core_user_get_user_preferences", name=Str(""), userid=Int(0))
def get_user_preferences(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """All of a user's preferences, or the one named."""
    userid = ctx.resolve(p["userid"])
    _require_edit_profile(ctx, userid)
    user = ctx.state.user(userid)
    prefs = dict(user.prefs)
    prefs.setdefault("emailstop", str(user.emailstop))
    items = [{"name": k, "value": v} for k, v in sorted(prefs.items()) if not p["name"] or k == p["name"]]
    return {"preferences": items, "warnings": []}


@MODERN.register("core_message_get_user_message_preferences", userid=Int(0))
def get_user_message_preferences(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Message preferences; ``blocknoncontacts`` is the effective privacy value (observed 10)."""
    userid = ctx.resolve(p["userid"])
    _require_edit_profile(ctx, userid)
    st = ctx.state
    user = st.user(userid)
    email_on = user.prefs.get("message_provider_moodle_instantmessage_enabled", "email") != "none"
    return {
        "preferences": {
            "userid": userid,
            "disableall": user.emailstop,
            "processors": [
                {
                    "displayname": "Email",
                    "name": "email",
                    "hassettings": True,
                    "contextid": 13,
                    "userconfigured": 1,
                }
            ],
            "components": [
                {
                    "displayname": "System",
                    "notifications": [
                        {
                            "displayname": "Personal messages between users",
                            "preferencekey": "message_provider_moodle_instantmessage",
                            "processors": [
                                {
                                    "displayname": "Email",
                                    "name": "email",
                                    "locked": False,
                                    "userconfigured": 1,
                                    "enabled": email_on,
                                }
                            ],
                        }
                    ],
                }
            ],
        },
        "blocknoncontacts": st.privacy(userid),
        "entertosend": user.prefs.get("message_entertosend", "1") != "0",
        "warnings": [],
    }


@MODERN.register(
    "core_user_add_user_device",
    appid=Str(),
    name=Str(),
    model=Str(),
    platform=Str(),
    version=Str(),
    pushid=Str(),
    uuid=Str(),
    publickey=Str(""),
)
def add_user_device(ctx: Ctx, p: dict[str, Any]) -> list[Any]:
    """Register the token user's device for push (the airnotifier output posts to it)."""
    st = ctx.state
    st.devices[:] = [
        d for d in st.devices if not (d.userid == ctx.userid and d.uuid == p["uuid"] and d.appid == p["appid"])
    ]
    st.devices.append(
        Device(
            ctx.userid,
            p["appid"],
            p["name"],
            p["model"],
            p["platform"],
            p["version"],
            p["pushid"],
            p["uuid"],
            p["publickey"],
        )
    )
    return []


@MODERN.register("core_user_update_user_device_public_key", uuid=Str(), appid=Str(), publickey=Str())
def update_user_device_public_key(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Set the public key of the token user's device (sites that encrypt pushes skip
    devices without one)."""
    st = ctx.state
    for i, d in enumerate(st.devices):
        if d.userid == ctx.userid and d.uuid == p["uuid"] and d.appid == p["appid"]:
            st.devices[i] = dataclasses.replace(d, publickey=p["publickey"])
            return {"status": True, "warnings": []}
    return {"status": False, "warnings": []}


@MODERN.register("core_user_remove_user_device", uuid=Str(), appid=Str(""))
def remove_user_device(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Forget the token user's device(s) with that uuid (and app id, when given)."""
    st = ctx.state
    before = len(st.devices)
    st.devices[:] = [
        d
        for d in st.devices
        if not (d.userid == ctx.userid and d.uuid == p["uuid"] and (not p["appid"] or d.appid == p["appid"]))
    ]
    return {"removed": len(st.devices) < before, "warnings": []}


# Providers a default 4.5 site lists, as (component, name, display name): about ten
# components, each provider with the three processors (moodle-4.5-observed.md item 28).
PROVIDERS = (
    ("moodle", "instantmessage", "Personal messages between users"),
    ("moodle", "messagecontactrequests", "Contact requests"),
    ("moodle", "newlogin", "New sign in to your account"),
    ("moodle", "enrolcoursewelcomemessage", "Course welcome message"),
    ("moodle", "notices", "Notices about minor problems"),
    ("moodle", "badgerecipientnotice", "Badge recipient notifications"),
    ("mod_assign", "assign_notification", "Assignment notifications"),
    ("mod_feedback", "submission", "Feedback notifications"),
    ("mod_forum", "posts", "Subscribed forum posts"),
    ("mod_forum", "digests", "Subscribed forum digests"),
    ("mod_lesson", "graded_essay", "Lesson essay graded notification"),
    ("mod_quiz", "submission", "Quiz submission notification"),
    ("mod_quiz", "attempt_overdue", "Warning when your quiz attempt becomes overdue"),
    ("enrol_manual", "expiry_notification", "Manual enrolment expiry notifications"),
    ("enrol_self", "expiry_notification", "Self enrolment expiry notifications"),
    ("tool_dataprivacy", "contactdataprotectionofficer", "Data requests"),
    ("core_competency", "competencyplancomment", "Comment posted on a learning plan"),
    ("mod_lti", "messagewithlti", "External tool notifications"),
)
COMPONENT_NAMES = {
    "moodle": "System",
    "mod_assign": "Assignment",
    "mod_feedback": "Feedback",
    "mod_forum": "Forum",
    "mod_lesson": "Lesson",
    "mod_quiz": "Quiz",
    "enrol_manual": "Manual enrolments",
    "enrol_self": "Self enrolment",
    "tool_dataprivacy": "Data privacy",
    "core_competency": "Competencies",
    "mod_lti": "External tool",
}


@MODERN.register("core_message_get_user_notification_preferences", userid=Int(0))
def get_user_notification_preferences(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Per provider and output, whether the user gets it (4.0+ ``enabled`` flags)."""
    userid = ctx.resolve(p["userid"])
    _require_edit_profile(ctx, userid)
    st = ctx.state
    user = st.user(userid)
    processors = [
        {
            "displayname": label,
            "name": name,
            "hassettings": name == "email",
            "contextid": 1,
            "userconfigured": 1,
        }
        for name, label in PROCESSORS.items()
    ]
    components: dict[str, list[dict[str, Any]]] = {}
    for component, name, label in PROVIDERS:
        enabled = st.processors_enabled(userid, component, name)
        components.setdefault(component, []).append(
            {
                "displayname": label,
                "preferencekey": f"message_provider_{component}_{name}",
                "processors": [
                    {
                        "displayname": plabel,
                        "name": pname,
                        "locked": False,
                        "userconfigured": 1,
                        "enabled": pname in enabled,
                    }
                    for pname, plabel in PROCESSORS.items()
                ],
            }
        )
    return {
        "preferences": {
            "userid": userid,
            "disableall": user.emailstop,
            "processors": processors,
            "components": [
                {"displayname": COMPONENT_NAMES.get(c, c), "notifications": n} for c, n in components.items()
            ],
        },
        "warnings": [],
    }
