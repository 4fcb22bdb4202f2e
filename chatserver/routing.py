"""Every app's WebSocket routes, gathered in one list."""

from agendas.routing import websocket_urlpatterns as agendas_patterns
from rooms.routing import websocket_urlpatterns as rooms_patterns

websocket_urlpatterns = [*rooms_patterns, *agendas_patterns]
