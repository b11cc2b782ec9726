"""The sandbox Pluto LMS: Moodle 4.5 web services on 127.0.0.1 for tests and the demo."""

from .clock import Clock
from .errors import WSError
from .seed import DemoSeed
from .server import MODES, Call, SandboxLMS
from .state import TaskAction

__all__ = ["MODES", "Call", "Clock", "DemoSeed", "SandboxLMS", "TaskAction", "WSError"]
