"""The rooms app's WebSocket routes (the room socket arrives with the rooms issue)."""

websocket_urlpatterns: list = []
