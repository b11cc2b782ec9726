"""The sandbox's Totara mode answers as the repository's plugin lms-plugins/local_pluto does:
the same function names, parameters, return fields, errors and warnings."""

from __future__ import annotations

import re
from pathlib import Path

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.lms.ws_totara import TOTARA

from .conftest import Client, is_error
from .test_totara import tclient, totara, tseed  # noqa: F401 (fixtures)

PLUGIN = Path(__file__).resolve().parents[2] / "lms-plugins" / "local_pluto"


def php_fields(path: Path, method: str) -> set[str]:
    """The ``'name' => new external_value`` keys declared in one method of a PHP class."""
    source = path.read_text()
    body = source[source.index(f"function {method}(") :]
    body = body[: body.index("\n    }\n")]
    return set(re.findall(r"'(\w+)' => new external_", body)) - {"tasks"}


def test_the_plugin_declares_the_functions_and_fields_the_sandbox_answers() -> None:
    services = (PLUGIN / "db" / "services.php").read_text()
    declared = set(re.findall(r"'(local_pluto_\w+)' => \[", services))
    assert declared == {name for name in TOTARA.functions if name.startswith("local_pluto_")}
    get_tasks, action = PLUGIN / "classes/external/get_tasks.php", PLUGIN / "classes/external/task_action.php"
    assert php_fields(get_tasks, "execute_parameters") == set(TOTARA.functions["local_pluto_get_tasks"].params)
    assert php_fields(action, "execute_parameters") == set(TOTARA.functions["local_pluto_task_action"].params)
    assert php_fields(action, "execute_returns") == {"status", "newmessageid", "warnings"}


async def test_the_task_list_has_the_plugins_fields(
    totara: SandboxLMS, tseed: DemoSeed, tclient: Client  # noqa: F811
) -> None:
    totara.task(tseed.mentor_id, "Approve booking", "Sam asks for a seat", acceptbutton="Approve")
    totara.task(tseed.mentor_id, "Open the appraisal", "Your appraisal is ready", workflow=None, msgtype=10)
    token = totara.issue_token(tseed.mentor_id)
    rows = (await tclient.call(token, "local_pluto_get_tasks", type="task"))["tasks"]
    plugin_fields = php_fields(PLUGIN / "classes/external/get_tasks.php", "execute_returns")
    assert all(set(row) == plugin_fields for row in rows)
    assert [(r["subject"], r["canaccept"]) for r in rows] == [("Open the appraisal", False), ("Approve booking", True)]


async def test_task_action_refusals_carry_the_plugins_warnings(
    totara: SandboxLMS, tseed: DemoSeed, tclient: Client  # noqa: F811
) -> None:
    link = totara.task(tseed.mentor_id, "Open the appraisal", "Your appraisal is ready", workflow=None, msgtype=10)
    token = totara.issue_token(tseed.mentor_id)
    answer = await tclient.call(token, "local_pluto_task_action", messageid=link, action="accept")
    assert answer["status"] is False
    assert [w["warningcode"] for w in answer["warnings"]] == ["nohandler"]
    strings = (PLUGIN / "lang" / "en" / "local_pluto.php").read_text()
    assert "This task has nothing to {$a}; it can be dismissed." in strings
    assert answer["warnings"][0]["message"] == "This task has nothing to accept; it can be dismissed."
    dismissed = await tclient.call(token, "local_pluto_task_action", messageid=link, action="dismiss")
    assert dismissed["status"] is True and dismissed["warnings"] == []
    again = await tclient.call(token, "local_pluto_task_action", messageid=link, action="dismiss")
    assert is_error(again, "invalidrecord")  # handled: no open item, as the plugin answers
    assert again["message"] == "Can't find data record in database table notifications."
