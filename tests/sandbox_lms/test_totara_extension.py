"""Totara mode with and without the custom task-action plugin; the sample workflow alerts the learner."""

from __future__ import annotations

import aiohttp
import pytest

from sandbox.lms import SandboxLMS


async def call(lms: SandboxLMS, token: str, function: str, **params: object) -> object:
    form = {"wstoken": token, "wsfunction": function, "moodlewsrestformat": "json"}
    form.update({k: str(v) for k, v in params.items()})
    async with aiohttp.ClientSession() as http, http.post(f"{lms.url}/webservice/rest/server.php", data=form) as resp:
        assert resp.status == 200
        return await resp.json()


@pytest.mark.parametrize("extension", [True, False])
async def test_task_functions_follow_the_extension_switch(extension: bool) -> None:
    lms = SandboxLMS(mode="totara", task_extension=extension)
    await lms.start()
    try:
        info = await call(lms, lms.admin_token, "core_webservice_get_site_info")
        names = {f["name"] for f in info["functions"]}  # type: ignore[index]
        assert ("local_pluto_task_action" in names) is extension
        answer = await call(lms, lms.admin_token, "local_pluto_get_tasks", type="task")
        assert ("exception" in answer) is not extension  # type: ignore[operator]
    finally:
        await lms.stop()


async def test_sample_workflow_alerts_the_learner() -> None:
    lms = SandboxLMS(mode="totara")
    seed = lms.seed_demo()
    await lms.start()
    try:
        task = lms.task(seed.mentor_id, "Booking request: Sam", "Sam asks for a seat",
                        data={"learnerid": seed.mentee1_id, "title": "Seminar 3"})
        mentor = lms.issue_token(seed.mentor_id)
        result = await call(lms, mentor, "local_pluto_task_action", messageid=task, action="reject",
                            reasonfordecision="Full")
        assert result["status"] is True  # type: ignore[index]
        alerts = await call(lms, lms.issue_token(seed.mentee1_id), "local_pluto_get_tasks", type="alert")
        [alert] = [a for a in alerts["tasks"] if a["subject"].startswith("Request")]  # type: ignore[index]
        assert alert["subject"] == "Request declined: Seminar 3"
        assert "Reason: Full" in alert["fullmessagehtml"]
    finally:
        await lms.stop()
