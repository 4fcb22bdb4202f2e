"""What apps tell the layer about their groups, in their AppConfig.ready().

A group's name is `<kind>.<id>` (`room.42`, `meeting.7`), built from database ids. Each
kind may provide:

- `beat(connections)`: the heartbeat, once per LIVE_HEARTBEAT_SECONDS for all of this
  process's sockets of that kind at once, on the database thread. `connections` maps each
  socket's connection id to its (group, user id); it returns, per group, the frame to send
  its sockets (or None) and the presence list it read on the way (or None).
- `present(group)`: who is present in a group now, on the database thread; with
  `presence_frame(present)`, the frame that tells the group's sockets. The hub sends it at
  most once a second per group, when a `presence_event` says the list changed.

    live_group_register(GroupKind("room", beat=rooms_beat, present=room_online,
                                  presence_frame=lambda online: {"type": "presence",
                                                                 "online": online}))
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Beat:
    frame: dict | None = None
    present: list | None = None


@dataclass(frozen=True)
class GroupKind:
    prefix: str
    beat: Callable[[dict[str, tuple[str, int]]], dict[str, Beat]] | None = None
    present: Callable[[str], list] | None = None
    presence_frame: Callable[[list], dict] | None = None


group_kinds: dict[str, GroupKind] = {}


def live_group_register(kind: GroupKind) -> None:
    group_kinds[kind.prefix] = kind


def group_kind(group: str) -> GroupKind | None:
    return group_kinds.get(group.split(".", 1)[0])


def group_id(group: str) -> int:
    """The database id in a group's name (`room.42` → 42)."""
    return int(group.split(".", 1)[1])
