"""The ``pluto-bridge`` command as an operator runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.lms.api import MODERN_FUNCTIONS
from bridge.model import COMMANDS
from sandbox.lms import SandboxLMS
from tests.e2e.harness import SECRET_KEY, write_config
from tests.support import cli

pytestmark = pytest.mark.e2e


async def test_version() -> None:
    code, out, _ = await cli("--version")
    assert code == 0 and out.strip() == "pluto-bridge 0.1.0"


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        (
            {"lms": {"url": "ftp://pluto"}, "store": {"token_key": SECRET_KEY}},
            "config error: lms.url: must start with http",
        ),
        (
            {"lms": {"url": "http://x"}, "store": {"token_key": "short"}},
            "config error: store.token_key: must be a Fernet key",
        ),
        (
            {"lms": {"url": "http://x", "poll_intervall": 3}, "store": {"token_key": SECRET_KEY}},
            "config error: lms.poll_intervall: unknown setting",
        ),
        ({"store": {"token_key": SECRET_KEY}}, "config error: lms: required setting is missing"),
        (
            {"lms": {"url": "http://x"}, "store": {"token_key": SECRET_KEY}, "telegram": {"enabled": True}},
            "config error: telegram: token is required when telegram is enabled",
        ),
    ],
)
async def test_bad_config_one_clear_line_exit_2(tmp_path: Path, sections: dict, expected: str) -> None:
    config = write_config(tmp_path / "bad.toml", sections)
    code, out, err = await cli("run", "--config", str(config))
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]  # exactly one line
    assert err.startswith(expected), err
    assert out == ""


async def test_unparsable_and_missing_config(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[lms\nurl = 1\n")
    code, _, err = await cli("run", "--config", str(broken))
    assert code == 2 and "not valid TOML" in err and len(err.strip().splitlines()) == 1
    code, _, err = await cli("check", "--config", str(tmp_path / "absent.toml"))
    assert code == 2 and "config file not found" in err


async def test_environment_overrides_the_file(tmp_path: Path, lms: SandboxLMS, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(
        tmp_path / "c.toml", {"lms": {"url": "http://127.0.0.1:9"}, "store": {"token_key": SECRET_KEY}}
    )
    monkeypatch.setenv("PLUTO_BRIDGE_LMS__URL", lms.url)
    monkeypatch.setenv("PLUTO_BRIDGE_LMS__TOKEN", lms.admin_token)
    code, out, _ = await cli("check", "--config", str(config))
    assert code == 0, out
    assert f"LMS {lms.url}" in out


async def test_check_prints_site_and_generation(tmp_path: Path, lms: SandboxLMS) -> None:
    config = write_config(
        tmp_path / "c.toml",
        {"lms": {"url": lms.url, "token": lms.admin_token}, "store": {"token_key": SECRET_KEY}},
    )
    code, out, _ = await cli("check", "--config", str(config))
    assert code == 0, out
    assert "site: Pluto LMS (sandbox)" in out
    assert "release: 4.5.11+ (Build: 20260501)" in out
    assert "generation: modern" in out
    assert "functions: all" in out


async def test_check_names_a_missing_function(tmp_path: Path, lms: SandboxLMS) -> None:
    user = lms.create_user("svc", firstname="Service", lastname="Account")
    functions = {"core_webservice_get_site_info", "core_message_get_conversations"}
    token = lms.issue_token(user, service="pluto_bridge_limited", functions=functions)
    config = write_config(
        tmp_path / "c.toml", {"lms": {"url": lms.url, "token": token}, "store": {"token_key": SECRET_KEY}}
    )
    code, out, _ = await cli("check", "--config", str(config))
    assert code == 1
    assert "  - core_message_send_instant_messages" in out
    assert "  - core_message_get_conversations" not in out


async def test_check_names_missing_alert_and_task_functions(tmp_path: Path, lms: SandboxLMS) -> None:
    user = lms.create_user("svc2", firstname="Service", lastname="Account")
    token = lms.issue_token(user, service="messages_only", functions=set(MODERN_FUNCTIONS))
    config = write_config(
        tmp_path / "c.toml", {"lms": {"url": lms.url, "token": token}, "store": {"token_key": SECRET_KEY}}
    )
    code, out, _ = await cli("check", "--config", str(config))
    assert code == 1, out
    assert "  - core_message_get_messages" in out
    assert "  - core_message_confirm_contact_request" in out
    assert "  - core_message_send_instant_messages" not in out
    assert "optional function core_message_get_user_notification_preferences not available" in out
    assert "optional function core_enrol_get_users_courses not available: the bulk command" in out
    assert "optional function core_message_message_search_users not available: find, to and msg" in out


async def test_check_on_totara_without_the_task_action_extension(tmp_path: Path) -> None:
    site = SandboxLMS(mode="totara", task_extension=False)
    await site.start()
    try:
        config = write_config(
            tmp_path / "c.toml",
            {"lms": {"url": site.url, "token": site.admin_token}, "store": {"token_key": SECRET_KEY}},
        )
        code, out, _ = await cli("check", "--config", str(config))
    finally:
        await site.stop()
    assert code == 0, out
    assert "generation: legacy (Totara/legacy)" in out
    assert (
        "optional function local_pluto_task_action not available: tasks cannot be accepted or rejected "
        "from chat, only dismissed"
    ) in out


async def test_check_with_revoked_token_and_lms_down(tmp_path: Path, lms: SandboxLMS) -> None:
    token = lms.issue_token(lms.create_user("ops"))
    lms.revoke_token(token)
    config = write_config(
        tmp_path / "c.toml",
        {"lms": {"url": lms.url, "token": token, "retries": 0}, "store": {"token_key": SECRET_KEY}},
    )
    code, out, _ = await cli("check", "--config", str(config))
    assert code == 1 and "lms.token rejected by the LMS" in out
    lms.set_down(True)
    code, out, _ = await cli("check", "--config", str(config))
    assert code == 1 and "LMS unreachable" in out


async def test_manifests_for_slack_and_teams(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.toml",
        {
            "lms": {"url": "http://127.0.0.1:9"},
            "store": {"token_key": SECRET_KEY},
            "web": {"public_url": "https://bridge.example/"},
            "teams": {"app_id": "00000000-0000-0000-0000-00000000beef"},
        },
    )
    code, out, err = await cli("manifest", "slack", "--config", str(config))
    assert code == 0, err
    slack = json.loads(out)
    [command] = slack["features"]["slash_commands"]
    assert command["command"] == "/pluto" and command["url"] == "https://bridge.example/slack/events"
    events = slack["settings"]["event_subscriptions"]
    assert events["request_url"] == "https://bridge.example/slack/events"
    # DMs, and the channel events group rooms follow (issue 16).
    assert {"message.im", "message.channels", "message.groups", "member_left_channel"} <= set(events["bot_events"])
    scopes = slack["oauth_config"]["scopes"]["bot"]
    assert {"users:read.email", "chat:write.customize", "channels:history", "groups:read"} <= set(scopes)
    code, out, err = await cli("manifest", "teams", "--config", str(config), "--name", "Pluto Mentoring")
    assert code == 0, err
    teams = json.loads(out)
    [bot] = teams["bots"]
    assert bot["botId"] == teams["id"] == "00000000-0000-0000-0000-00000000beef"
    # Teams takes at most 10 commands per menu (manifest schema: commandLists[].commands maxItems 10).
    menus = {tuple(m["scopes"]): [c["title"] for c in m["commands"]] for m in bot["commandLists"]}
    assert all(len(titles) <= 10 for titles in menus.values()), menus
    assert {t for titles in menus.values() for t in titles} <= {c.name for c in COMMANDS}
    assert "find" in menus[("personal",)] and "room" in menus[("team", "groupChat")]
    assert teams["validDomains"] == ["bridge.example"] and teams["name"]["short"] == "Pluto Mentoring"
    # Team channels and group chats as rooms, with the consent to read every message there.
    assert bot["scopes"] == ["personal", "team", "groupChat"] == [s for scopes in menus for s in scopes]
    consent = {p["name"] for p in teams["authorization"]["permissions"]["resourceSpecific"]}
    assert consent == {"ChannelMessage.Read.Group", "ChatMessage.Read.Chat", "TeamMember.Read.Group"}
    assert teams["webApplicationInfo"]["id"] == teams["id"]
    code, out, _ = await cli("manifest", "fax", "--config", str(config))
    assert code == 2 and "slack or teams" in out


def store_config(tmp_path: Path, lms: SandboxLMS) -> Path:
    """A config for the operator's link commands: the LMS and a SQLite store in ``tmp_path``."""
    return write_config(
        tmp_path / "c.toml",
        {
            "lms": {"url": lms.url},
            "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", "token_key": SECRET_KEY},
        },
    )


async def test_link_import_and_list(tmp_path: Path, lms: SandboxLMS) -> None:
    seed = lms.seed_demo()
    good = lms.issue_token(seed.mentee1_id)
    rows = tmp_path / "tokens.jsonl"
    rows.write_text(
        f'{{"platform": "telegram", "user_id": "111", "token": "{good}", "username": "mentee1"}}\n'
        '{"platform": "telegram", "user_id": "222", "token": "not-a-token", "username": "mentee2"}\n'
        '{"platform": "fax", "user_id": "333", "token": "x"}\n'
    )
    config = store_config(tmp_path, lms)
    code, out, _ = await cli("link", "import", str(rows), "--config", str(config))
    assert code == 1
    assert "linked  telegram:111: linked to mentee1" in out
    assert "FAILED  telegram:222: token refused" in out
    assert "FAILED  row 3: malformed row" in out
    code, out, _ = await cli("link", "list", "--config", str(config))
    assert code == 0 and "telegram:111\tmentee1" in out and "1 link(s)" in out


async def test_link_import_checks_whose_token_it_is(tmp_path: Path, lms: SandboxLMS) -> None:
    """Issue 13, item 5: a row whose token belongs to someone else, or to a site
    administrator (whose posts bypass Pluto's privacy rules), is refused."""
    seed = lms.seed_demo()
    mentee1 = lms.issue_token(seed.mentee1_id)
    rows = tmp_path / "tokens.json"
    rows.write_text(
        json.dumps(
            [
                {"platform": "telegram", "user_id": "111", "token": mentee1, "username": "mentee2"},
                {"platform": "telegram", "user_id": "222", "token": mentee1, "lms_user_id": seed.mentee2_id},
                {"platform": "telegram", "user_id": "333", "token": lms.admin_token, "username": "admin"},
                {"platform": "telegram", "user_id": "444", "token": mentee1},
            ]
        )
    )
    config = store_config(tmp_path, lms)
    code, out, _ = await cli("link", "import", str(rows), "--config", str(config))
    assert code == 1
    assert "FAILED  telegram:111: the token belongs to mentee1" in out and "not to mentee2" in out
    assert "FAILED  telegram:222: the token belongs to mentee1" in out
    assert "FAILED  telegram:333: the token belongs to a site administrator (admin)" in out
    assert "FAILED  telegram:444: the row names no Pluto user" in out
    assert "0 linked, 4 failed" in out
    admin_row = {"platform": "telegram", "user_id": "333", "token": lms.admin_token, "username": "admin"}
    rows.write_text(json.dumps([admin_row]))
    code, out, _ = await cli("link", "import", str(rows), "--config", str(config), "--allow-admin")
    assert code == 0 and "linked  telegram:333: linked to admin" in out
    code, out, _ = await cli("link", "list", "--config", str(config))
    assert "telegram:333\tadmin" in out and "by link import from tokens.json" in out
