"""Course forums and the ``mod_forum/posts`` notifications their cron sends (observed 11b, 16).

A post is mailed only by a cron run after its editing window: Moodle's forum cron picks
posts with ``created < now - maxeditingtime`` (30 min by default), so a notification can
arrive long after the post. Each post is mailed once, to every user enrolled in the course
but its author (the sandbox's forums are forced-subscription ones, as in observed 11a), and
the notification's ``timecreated`` is when the cron ran (observed 11b).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime

from . import notices
from .notices import WWWROOT
from .state import Notification, State
from .textformat import FORMAT_PLAIN, clean_html, html_to_text, s

DEFAULT_FORUM = "Announcements"
_RULE = "-" * 69


@dataclass(frozen=True)
class Forum:
    """A forum activity: its instance id and course-module id."""

    id: int
    cmid: int
    courseid: int
    name: str


@dataclass
class ForumPost:
    """The first post of a discussion (``mailed`` once cron has sent it)."""

    id: int
    discussionid: int
    forum: Forum
    userid: int
    subject: str
    message: str  # HTML, as posted
    created: int
    mailed: bool = False


def _date(ts: int) -> str:
    """``userdate`` with ``strftimedaydatetime`` (site time zone taken as UTC)."""
    dt = datetime.fromtimestamp(ts, UTC)
    return f"{dt:%A}, {dt.day} {dt:%B %Y}, {int(f'{dt:%I}')}:{dt:%M} {dt:%p}"


class Forums:
    """Every forum and post of the site, and the forum cron."""

    def __init__(self, st: State) -> None:
        self.state = st
        self.forums: dict[tuple[int, str], Forum] = {}
        self.posts: list[ForumPost] = []
        self._forum_ids = itertools.count(1)
        self._cmids = itertools.count(1)
        self._discussion_ids = itertools.count(1)
        self._post_ids = itertools.count(1)

    def forum(self, courseid: int, name: str = DEFAULT_FORUM) -> Forum:
        """The course's forum called ``name``, created on first use."""
        self.state.courses[courseid]
        key = (courseid, name)
        if key not in self.forums:
            self.forums[key] = Forum(next(self._forum_ids), next(self._cmids), courseid, name)
        return self.forums[key]

    def add_discussion(self, courseid: int, author: int, subject: str, html: str, forum: str) -> ForumPost:
        """A new discussion (its first post) by ``author``, stamped with the clock's second."""
        if author not in self.state.courses[courseid].enrolments:
            raise ValueError(f"user {author} is not enrolled in course {courseid}")
        post = ForumPost(
            next(self._post_ids),
            next(self._discussion_ids),
            self.forum(courseid, forum),
            author,
            subject,
            html,
            self.state.clock.now(),
        )
        self.posts.append(post)
        return post

    def run_cron(self) -> list[Notification]:
        """Mail every post whose editing window has passed; returns the notifications sent."""
        st = self.state
        now = st.clock.now()
        sent: list[Notification] = []
        for post in self.posts:
            if post.mailed or post.created >= now - int(st.config["maxeditingtime"]):
                continue
            post.mailed = True
            recipients = sorted(u for u in st.courses[post.forum.courseid].enrolments if u != post.userid)
            sent += [self._notify(post, uid) for uid in recipients]
        return sent

    def _notify(self, post: ForumPost, userid: int) -> Notification:
        st = self.state
        course = st.courses[post.forum.courseid]
        author = st.fullname(post.userid)
        url = f"{WWWROOT}/mod/forum/discuss.php?d={post.discussionid}#p{post.id}"
        text = (
            f"{course.shortname} -> Forums -> {post.forum.name} -> {post.subject} \n{url}\n{post.subject}\n"
            f"by {author} - {_date(post.created)}\n{_RULE}\n{html_to_text(post.message)}\n\n{_RULE}\n"
            f"This is a copy of a message posted in {post.forum.name}."
        )
        html = (
            '<div class="navbar">\n    <div class="container-fluid p-0">\n'
            f'        <a target="_blank" href="{WWWROOT}/course/view.php?id={course.id}">{s(course.shortname)}</a>\n'
            f'        &raquo; <a target="_blank" href="{WWWROOT}/mod/forum/index.php?id={course.id}">Forums</a>\n'
            f'        &raquo; <a target="_blank" href="{WWWROOT}/mod/forum/view.php?f={post.forum.id}">'
            f"{s(post.forum.name)}</a>\n"
            f'        &raquo; <a target="_blank" href="{url}">{s(post.subject)}</a>\n'
            "    </div>\n</div>\n"
            f'<div class="forumpost"><div class="subject">{s(post.subject)}</div>'
            f'<div class="author">by {s(author)} - {_date(post.created)}</div>'
            f'<div class="posting">{clean_html(post.message)}</div></div>'
        )
        return notices.add_notification(
            st,
            userid,
            subject=f"{course.shortname}: {post.subject}",
            fullmessage=text,
            fullmessageformat=FORMAT_PLAIN,
            fullmessagehtml=html,
            smallmessage=f"{author} posted in {course.shortname}: {post.forum.name}: {post.subject}",
            component="mod_forum",
            eventtype="posts",
            useridfrom=post.userid,
            contexturl=url,
            contexturlname=post.subject,
            customdata={
                "cmid": str(post.forum.cmid),
                "instance": str(post.forum.id),
                "discussionid": str(post.discussionid),
                "postid": str(post.id),
                "notificationiconurl": f"{WWWROOT}/theme/image.php/boost/core/1795458244/u/f1",
                "actionbuttons": {"reply": "Reply"},
            },
        )
