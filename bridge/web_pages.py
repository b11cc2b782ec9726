"""The HTML of the sign-in pages: plain, accessible, no scripts."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bridge.linking import ChatAccount

RISK = "Anyone using this chat account will read your Pluto messages and can write as you."

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1d2433}"
    "label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.5rem;font-size:1rem}"
    "button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}.err{color:#a40000}code{font-size:1.1rem}"
)


def page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_STYLE}</style></head>'
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def account_card(account: ChatAccount) -> str:
    """Who will receive the person's Pluto messages: platform, workspace, name, handle,
    picture, and what linking it means, in plain words."""
    rows = [("Chat app", account.platform.title())]
    if account.workspace_name or account.workspace:
        rows.append(("Workspace or server", account.workspace_name or account.workspace))
    if account.display_name:
        rows.append(("Name", account.display_name))
    if account.handle:
        rows.append(("Username", f"@{account.handle}"))
    picture = (
        f'<img src="{escape(account.picture_url)}" alt="Profile picture of this chat account">'
        if account.picture_url
        else ""
    )
    details = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return (
        f'<section class="acct" aria-labelledby="acct-h">{picture}'
        '<h2 id="acct-h">Your Pluto messages will go to this chat account</h2>'
        f"<dl>{details}</dl><p><strong>{escape(RISK)}</strong> "
        "Continue only if this is your own account. If somebody sent you this page, stop here.</p></section>"
    )


def sign_in_form(
    action: str, intro: str, error: str = "", username: str = "", account: ChatAccount | None = None
) -> str:
    """The sign-in form; with ``account`` (chat-first codes) it shows that account and asks
    the person to confirm it is theirs before anything is linked."""
    err = f'<p class="err" role="alert">{escape(error)}</p>' if error else ""
    card = account_card(account) if account is not None else ""
    confirm = (
        '<p class="confirm"><input id="c" name="confirm" type="checkbox" value="yes" required>'
        f'<label for="c">This is my own chat account. I understand: {escape(RISK)}</label></p>'
        if account is not None
        else ""
    )
    button = "Sign in and link this chat account" if account is not None else "Sign in"
    return page(
        "Sign in to Pluto",
        f"<p>{escape(intro)}</p>{card}{err}"
        f'<form method="post" action="{escape(action)}">'
        f'<label for="u">Pluto username</label><input id="u" name="username" autocomplete="username" '
        f'value="{escape(username)}" required>'
        '<label for="p">Password</label><input id="p" name="password" type="password" '
        f'autocomplete="current-password" required>{confirm}'
        f"<button type=submit>{escape(button)}</button></form>"
        "<p><small>Your password goes to Pluto only. The bridge keeps just your Pluto token, encrypted.</small></p>",
    )


def throttled(message: str) -> str:
    """The 429 page: too many failed sign-ins, and when to try again."""
    return page("Too many attempts", f'<p class="err" role="alert">{escape(message)}</p>')


def linked(fullname: str) -> str:
    return page(
        "Linked",
        f"<p>Your chat account is now linked to Pluto as <b>{escape(fullname)}</b>. "
        "You can close this page and go back to the chat.</p>",
    )


def web_code(fullname: str, code: str, bot_links: dict[str, str]) -> str:
    links = "".join(
        f'<li><a href="{escape(url)}">Open {escape(platform.title())}</a></li>' for platform, url in bot_links.items()
    )
    return page(
        "Almost there",
        f"<p>Signed in as <b>{escape(fullname)}</b>. Now tell the bot this one-time code:</p>"
        f"<p><code>link {escape(code)}</code></p>"
        "<p><strong>Never give this code to anyone.</strong> Whoever sends it to the bot gets your Pluto "
        "messages and can write as you. Send it only in your own private chat with the bot.</p>"
        "<p>(Slack and Discord: <code>/pluto link CODE</code>; Telegram and the console: <code>/link CODE</code>; "
        "Teams: <code>link CODE</code>.)</p>" + (f"<ul>{links}</ul>" if links else ""),
    )


def problem(message: str) -> str:
    return page("Cannot link", f'<p class="err" role="alert">{escape(message)}</p>')
