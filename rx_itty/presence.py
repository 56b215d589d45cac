"""Who is in the channel, derived from join and leave events (a pure reducer)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import final

from rx_itty.events import Event, Join, Leave, User

__all__ = ["Presence"]


@final
@dataclass(frozen=True, slots=True)
class Presence:
    """The roster as far as the protocol lets a client know it.

    Attributes:
        me: Our own identity (uid and alias) once our join arrived; ``None`` when not connected.
        total: Connections in the channel, announced or not, counting us.
        users: Announced connections we know of, in join order: the ``list=true``
            snapshot from our own join, then later joins that carried a uid, minus leaves.
    """

    me: User | None = None
    total: int = 0
    users: tuple[User, ...] = ()

    def apply(self, event: Event) -> Presence:
        """The presence after ``event``; anything but a join or leave changes nothing."""
        if isinstance(event, Join):
            total = self.total if event.total is None else event.total
            if event.is_self and event.uid is not None:
                me = User(event.uid, event.alias, is_self=True)
                return Presence(me, total, event.users if event.users is not None else ())
            users = self.users
            if event.uid is not None and all(u.uid != event.uid for u in users):
                users = (*users, User(event.uid, event.alias))
            return Presence(self.me, total, users)
        if isinstance(event, Leave):
            total = self.total if event.total is None else event.total
            users = self.users
            if event.uid is not None:
                users = tuple(u for u in users if u.uid != event.uid)
            return Presence(self.me, total, users)
        return self

    def __contains__(self, uid: object) -> bool:
        """``uid in presence``: is this announced uid (or our own) here?"""
        return (self.me is not None and self.me.uid == uid) or any(u.uid == uid for u in self.users)

    def _repr_html_(self) -> str:
        """The roster as an HTML table: how Jupyter shows a presence.

        Connections the table cannot list (unannounced ones, and those here
        before us when we did not ask for the list) are counted above it.
        """
        rows = "".join(
            f"<tr><td><code>{html.escape(u.uid)}</code></td><td>{html.escape(u.alias or '')}</td>"
            f"<td>{'you' if u.is_self else ''}</td></tr>"
            for u in self.users
        )
        hidden = self.total - len(self.users)
        unlisted = f" ({hidden} not listed)" if hidden > 0 else ""
        return (
            f"<p>{self.total} connected{unlisted}</p>"
            f"<table><thead><tr><th>uid</th><th>alias</th><th></th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
