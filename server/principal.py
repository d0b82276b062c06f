"""Who is calling, and what part of the hierarchy they answer for."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from grid.hierarchy import covers
from grid.lifecycle import Actor
from grid.people import ADMINISTRATORS, Role


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    username: str
    display_name: str
    role: Role
    node_code: str
    node_path: str

    def covers(self, path: str) -> bool:
        return covers(self.node_path, path)

    @property
    def is_admin(self) -> bool:
        return self.role in ADMINISTRATORS

    @property
    def actor(self) -> Actor:
        return Actor(str(self.user_id), self.display_name)
