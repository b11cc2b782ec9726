"""The HTML of the sign-in pages: plain, accessible, no scripts."""

from __future__ import annotations

from html import escape

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


def sign_in_form(action: str, intro: str, error: str = "", username: str = "") -> str:
    err = f'<p class="err" role="alert">{escape(error)}</p>' if error else ""
    return page(
        "Sign in to Pluto",
        f"<p>{escape(intro)}</p>{err}"
        f'<form method="post" action="{escape(action)}">'
        f'<label for="u">Pluto username</label><input id="u" name="username" autocomplete="username" '
        f'value="{escape(username)}" required>'
        '<label for="p">Password</label><input id="p" name="password" type="password" '
        'autocomplete="current-password" required>'
        "<button type=submit>Sign in</button></form>"
        "<p><small>Your password goes to Pluto only. The bridge keeps just your Pluto token, encrypted.</small></p>",
    )


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
        "<p>(Slack and Discord: <code>/pluto link CODE</code>; Telegram and the console: <code>/link CODE</code>; "
        "Teams: <code>link CODE</code>.)</p>" + (f"<ul>{links}</ul>" if links else ""),
    )


def problem(message: str) -> str:
    return page("Cannot link", f'<p class="err" role="alert">{escape(message)}</p>')
