"""Group rooms: a Pluto group conversation linked to a shared chat room (DESIGN.md flow 4).

``command``: the ``room`` command (link, unlink, status) and its buttons; ``report``: who
is in the room and in the Pluto group; ``intake``: each linked group read once per cycle,
its messages queued for every room and as private copies; ``inbound``: what people write
in a room, into Pluto as them; ``lanes``: room posts sent from the outbox; ``lifecycle``:
pause and resume; ``tell``: telling one person privately.
"""
