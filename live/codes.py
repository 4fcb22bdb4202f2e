"""Close codes every socket uses (docs/protocol.md lists them).

Autobahn, under Daphne, sends only 1000 and 3000-4999: application codes follow HTTP's
(4401, 4403, 4404, 4408, 4429, 4503) and WebSocket's own 1012 ("service restart": 4012).
"""

CLOSE_GOING_AWAY = 4012  # this server process stops: reconnect now (with jitter), elsewhere
CLOSE_NOT_SIGNED_IN = 4401  # not signed in, or the session ended (signed out, password changed)
CLOSE_NOT_MEMBER = 4403  # not (or no longer) allowed here
CLOSE_NOT_FOUND = 4404  # no such thing, or one the user may not know exists
CLOSE_TOO_SLOW = 4408  # the client stopped reading for LIVE_SLOW_CLIENT_SECONDS
CLOSE_TOO_MANY = 4429  # this user has LIVE_SOCKETS_PER_USER sockets open on this process
CLOSE_UNAVAILABLE = 4503  # the server cannot serve this now (Redis is away): retry later

CLOSE_CODES = {
    CLOSE_GOING_AWAY,
    CLOSE_NOT_SIGNED_IN,
    CLOSE_NOT_MEMBER,
    CLOSE_NOT_FOUND,
    CLOSE_TOO_SLOW,
    CLOSE_TOO_MANY,
    CLOSE_UNAVAILABLE,
}
