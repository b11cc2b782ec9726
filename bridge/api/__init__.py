"""The Send Message API: other systems reach people in chat and in Pluto through the bridge.

``request`` validates a send request, ``keys`` makes and checks API keys, ``ratelimit``
paces each key, ``runner`` carries jobs out, ``routes`` serves them over HTTP,
``openapi`` describes it all and ``admin`` is the ``pluto-bridge apikey`` command.
"""
