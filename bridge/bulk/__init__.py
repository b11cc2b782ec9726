"""Bulk messages from chat: a teacher messages a course, a group or a role at once.

``command`` answers the ``bulk`` command (choose, show how many, confirm, cancel);
``runner`` sends as the teacher, with their own token, one private message per recipient
in batches, paced and resumable; ``progress`` keeps the teacher informed in chat; ``lms``
holds the LMS calls it needs.
"""
