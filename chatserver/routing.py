"""Every app's WebSocket routes, gathered in one list."""

from rooms.routing import websocket_urlpatterns as rooms_patterns

websocket_urlpatterns = [*rooms_patterns]
