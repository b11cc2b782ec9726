"""Moodle web-service errors, with the class names, codes and messages Moodle 4.5 sends.

Moodle 4.5 reports namespaced class names for the core exceptions it moved into
``core\\exception`` (observed: ``core\\exception\\moodle_exception``); the web-service and DML
exceptions keep their old global names.
"""

from __future__ import annotations

from typing import Any

MOODLE_EXCEPTION = "core\\exception\\moodle_exception"
INVALID_PARAMETER = "core\\exception\\invalid_parameter_exception"
INVALID_RESPONSE = "core\\exception\\invalid_response_exception"
REQUIRED_CAPABILITY = "core\\exception\\required_capability_exception"
CODING_EXCEPTION = "core\\exception\\coding_exception"
ACCESS_EXCEPTION = "webservice_access_exception"
MISSING_RECORD = "dml_missing_record_exception"


class WSError(Exception):
    """A web-service failure: answered as HTTP 200 with ``{exception, errorcode, message}``."""

    def __init__(self, exception: str, errorcode: str, message: str) -> None:
        super().__init__(f"{errorcode}: {message}")
        self.exception = exception
        self.errorcode = errorcode
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON body Moodle's REST server writes for this error."""
        return {"exception": self.exception, "errorcode": self.errorcode, "message": self.message}


def invalid_token() -> WSError:
    """Unknown or revoked token."""
    return WSError(MOODLE_EXCEPTION, "invalidtoken", "Invalid token - token not found")


def access_exception() -> WSError:
    """Function outside the token's service (also: suspended user, expired token)."""
    return WSError(ACCESS_EXCEPTION, "accessexception", "Access control exception")


def invalid_parameter() -> WSError:
    """A missing, malformed or unexpected argument."""
    return WSError(INVALID_PARAMETER, "invalidparameter", "Invalid parameter value detected")


def invalid_response() -> WSError:
    """The function returned something its return description does not allow."""
    return WSError(INVALID_RESPONSE, "invalidresponse", "Invalid response value detected")


def missing_record(table: str | None = None) -> WSError:
    """A ``MUST_EXIST`` lookup found nothing (``table`` None: a raw SQL lookup)."""
    if table is None:
        return WSError(MISSING_RECORD, "invalidrecordunknown", "Can't find data record in database.")
    return WSError(MISSING_RECORD, "invalidrecord", f"Can't find data record in database table {table}.")


def sentence(text: str) -> WSError:
    """A ``moodle_exception`` whose errorcode is an English sentence (observed 4b and 5c)."""
    return WSError(MOODLE_EXCEPTION, text, f"error/{text}")


def no_permission() -> WSError:
    """Acting for another user without ``moodle/site:readallmessages`` (observed 4b)."""
    return sentence("You do not have permission to perform this action.")


def access_denied() -> WSError:
    """``moodle_exception('accessdenied', 'admin')`` (observed 7e)."""
    return WSError(MOODLE_EXCEPTION, "accessdenied", "Access denied")


def course_context_error(courseid: int, reason: str) -> WSError:
    """``validate_context`` failing in a course function (``errorcoursecontextnotvalid``)."""
    return WSError(
        MOODLE_EXCEPTION,
        "errorcoursecontextnotvalid",
        f"You cannot execute functions in the course context (course id:{courseid}). The error message was: {reason}",
    )


def no_capability(capability_name: str) -> WSError:
    """``required_capability_exception``; ``capability_name`` is its English name."""
    return WSError(
        REQUIRED_CAPABILITY,
        "nopermissions",
        f"Sorry, but you do not currently have permissions to do that ({capability_name}).",
    )


def messaging_disabled() -> WSError:
    """Site messaging is switched off."""
    return WSError(MOODLE_EXCEPTION, "disabled", "Messaging is disabled on this site")


def conversation_missing() -> WSError:
    """The conversation does not exist, or the user is not in it."""
    return WSError(MOODLE_EXCEPTION, "errorconversationdoesnotexist", "Conversation does not exist")


def message_too_long() -> WSError:
    """Text over ``MESSAGE_MAX_LENGTH`` bytes in ``send_messages_to_conversation``."""
    return WSError(MOODLE_EXCEPTION, "errormessagetoolong", "The message is longer than the maximum allowed.")


def coding_error(detail: str) -> WSError:
    """An unexpected failure inside the sandbox, reported the way Moodle reports its own bugs."""
    return WSError(
        CODING_EXCEPTION, "codingerror", f"Coding error detected, it must be fixed by a programmer: {detail}"
    )


def site_maintenance() -> WSError:
    """The site is in maintenance mode."""
    return WSError(
        MOODLE_EXCEPTION,
        "sitemaintenance",
        "This site is undergoing maintenance and is currently not available",
    )
