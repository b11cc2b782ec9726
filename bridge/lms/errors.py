"""Typed exceptions for what the LMS answers, mapped from Moodle's HTTP-200 error bodies."""

from __future__ import annotations

from typing import Any


class LmsError(Exception):
    """The LMS answered with an error body ``{exception, errorcode, message}``."""

    def __init__(self, errorcode: str, message: str, exception: str = "", function: str = "") -> None:
        super().__init__(f"{function or 'LMS'}: {message} [{errorcode}]")
        self.errorcode = errorcode
        self.message = message
        self.exception = exception
        self.function = function


class TokenRejected(LmsError):
    """The token no longer works (unknown, expired, user suspended): the person must sign in again."""


class InvalidToken(TokenRejected):
    """``invalidtoken``: the token does not exist (revoked or never issued)."""


class AccessException(TokenRejected):
    """``accessexception``: expired token, suspended user, or a function outside the token's service."""


class FunctionUnavailable(LmsError):
    """``accessexception`` for a function outside the token's service while the token itself
    still works: a new sign-in cannot help, the site administrator must add the function."""


class AccessDenied(LmsError):
    """The token's user may not do this (acting for someone else, not a member, no capability)."""


class MessagingDisabled(LmsError):
    """The site's messaging switch is off."""


class NotFound(LmsError):
    """A record the call names does not exist (conversation, message, notification)."""


class MessageTooLong(LmsError):
    """The text exceeds the LMS's 4096-byte limit."""


class InvalidParameter(LmsError):
    """A parameter was missing or malformed."""


class InvalidResponse(LmsError):
    """``invalidresponse``: Moodle's own bug, e.g. ``timefrom`` equal to the current second."""


class SendRefused(LmsError):
    """The LMS refused a message for privacy reasons (blocked, contacts only, not a member)."""


class LoginFailed(Exception):
    """``login/token.php`` refused the username and password (or cannot create a token)."""

    def __init__(self, errorcode: str, message: str) -> None:
        super().__init__(message)
        self.errorcode = errorcode
        self.message = message


class LmsUnavailable(Exception):
    """The LMS could not be reached or answered 5xx, after the configured retries.
    ``reached``: the last request may have reached the LMS (a time-out, a 5xx), so its
    effect may have happened."""

    def __init__(self, message: str, *, reached: bool = False) -> None:
        super().__init__(message)
        self.reached = reached


_CODES: dict[str, type[LmsError]] = {
    "invalidtoken": InvalidToken,
    "accessexception": AccessException,
    "accessdenied": AccessDenied,
    "nopermissions": AccessDenied,
    "disabled": MessagingDisabled,
    "invalidrecord": NotFound,
    "invalidrecordunknown": NotFound,
    "invaliduser": NotFound,
    "errorconversationdoesnotexist": NotFound,
    "errormessagetoolong": MessageTooLong,
    "invalidparameter": InvalidParameter,
    "invalidresponse": InvalidResponse,
}


def error_from_body(body: dict[str, Any], function: str) -> LmsError:
    """Build the most specific exception for a Moodle error body."""
    code = str(body.get("errorcode") or "")
    message = str(body.get("message") or code or "unknown LMS error")
    exception = str(body.get("exception") or "")
    cls = _CODES.get(code)
    if cls is None:
        # Some Moodle errors use an English sentence as the errorcode (observed 4b, 5c).
        lowered = code.lower()
        if "cannot send a message" in lowered:
            cls = SendRefused
            message = code
        elif "permission" in lowered:
            cls = AccessDenied
            message = code
        elif "dml_missing_record" in exception:
            cls = NotFound
        else:
            cls = LmsError
    return cls(code, message, exception, function)
