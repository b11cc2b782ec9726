"""The sandbox Pluto LMS: Moodle 4.5 web services on 127.0.0.1 for tests and the demo.

Usage::

    lms = SandboxLMS()                 # mode="modern" (Moodle 4.5) or "totara" (legacy messaging)
    seed = lms.seed_demo()             # MENT101, mentor/mentee1/mentee2, group "Cohort A"
    url = await lms.start()            # http://127.0.0.1:<port>
    token = lms.issue_token(seed.mentee1_id)
    lms.post_message(seed.mentor_id, seed.mentee1_id, "hi")   # same rules as the WS send
    lms.clock.freeze(); lms.clock.advance(1)                   # integer-second clock
    ...
    await lms.stop()

Fidelity notes (where the sandbox had to choose):

* Everything follows shared/reference/moodle-4.5-observed.md where it speaks.
* Text: plain -> ``<p>`` + escaped, newlines ``<br>``, empty text ``""`` (observed 26);
  HTML -> cleaned (nh3: no script/style, no ``on*``), wrapped in ``<p>`` unless it starts
  with a block; FORMAT_MOODLE keeps cleaned HTML, newlines ``<br>`` (it does not escape);
  markdown is rendered (markdown-it).
* Same-second messages come back in reverse id order (Moodle orders by time only).
* Each sign-in queues ``moodle/newlogin``, sent only by the next ``run_cron()`` (observed 20);
  each new enrolment a course welcome notification.
* ``forum_post`` notifies (``mod_forum/posts``) only from the first ``run_cron()`` after the
  post's ``maxeditingtime`` (default 1800 s); ``core_group_create_groups`` never makes a group
  conversation (``enablemessaging`` is an unknown key), only the ``create_group`` hook does.
* A latest message of ``"0"`` or ``""`` is left out of ``get_conversations`` (observed 18);
  refusals name nobody (25); a function outside the token's service, including real Moodle
  functions the sandbox does not implement, answers ``accessexception`` (24).
* Totara mode keeps pre-3.5 messaging; ``local_pluto_get_tasks``/``local_pluto_task_action``
  answer as the repository's plugin ``lms-plugins/local_pluto`` does (lms-api.md 5.2).
* Test hooks for orderings a real site produces by chance: ``after_call`` (run something
  between two reads of a client), ``delay_task_listing`` (Totara writes a task's metadata
  after its row), ``remove_from_service`` (an administrator trims the service).
"""

from .clock import Clock
from .errors import WSError
from .push import Push
from .seed import DemoSeed
from .server import MODES, Call, SandboxLMS
from .state import TaskAction

__all__ = ["MODES", "Call", "Clock", "DemoSeed", "Push", "SandboxLMS", "TaskAction", "WSError"]
