"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatserver.settings.base")
# Set up Django (apps, models) before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from daphne.ws_protocol import WebSocketProtocol  # noqa: E402

from chatserver.routing import websocket_urlpatterns  # noqa: E402
from live import shutdown  # noqa: E402
from live.security import SameOriginValidator  # noqa: E402
from live.transport import OutletMiddleware  # noqa: E402

# Daphne leaves autobahn's `failByDrop` on: a frame over --websocket-max-message-size (or a
# protocol violation) drops the TCP connection, and the browser reads 1006. Off, autobahn
# sends the close frame first: 1009 for a frame too big, as docs/protocol.md says.
WebSocketProtocol.failByDrop = False

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OutletMiddleware(
            SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)

# Under Daphne: SIGTERM closes the sockets with 4012 and the process exits (live/shutdown.py).
shutdown.install()
