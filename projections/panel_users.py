"""Panel users: a tenant's logins, their roles and whether they are disabled.

The owner's user list (``GET /v1/users``), and the ids the last-owner rule checks
(each is then loaded from the log, which is always current).
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from psycopg import sql

from domain.users import User
from projections.pages import Page
from projections.store import Rows, Table
from projections.view import View, by_originator, on

USERS = Table(
    "users",
    {
        "id": "uuid",
        "reseller_id": "uuid",
        "email": "text",
        "role": "text",
        "disabled": "boolean",
        "created_at": "timestamptz",
        "seq": "bigint",
    },
    indexes=(("reseller_id", "seq DESC"),),
)


class PanelUsers(View):
    """One row per user."""

    name = "panel_users"
    tables: ClassVar = (USERS,)

    @on(User.Added)
    def _added(self, rows: Rows, event: User.Added, position: int) -> None:
        rows.put(
            USERS,
            {
                "id": event.originator_id,
                "reseller_id": event.reseller_id,
                "email": event.email,
                "role": event.role,
                "disabled": False,
                "created_at": event.timestamp,
                "seq": position,
            },
        )

    @on(User.RoleChanged, load=[(USERS, by_originator)])
    def _role_changed(
        self, rows: Rows, event: User.RoleChanged, _position: int
    ) -> None:
        rows.update(USERS, event.originator_id, role=event.role)

    @on(User.Disabled, load=[(USERS, by_originator)])
    def _disabled(self, rows: Rows, event: User.Disabled, _position: int) -> None:
        rows.update(USERS, event.originator_id, disabled=True)

    @on(User.Enabled, load=[(USERS, by_originator)])
    def _enabled(self, rows: Rows, event: User.Enabled, _position: int) -> None:
        rows.update(USERS, event.originator_id, disabled=False)

    def query(
        self, reseller_id: UUID, *, limit: int = 50, cursor: str | None = None
    ) -> Page:
        """The tenant's users, newest first."""
        return self.newest_first(
            "users", reseller_id, q=None, limit=limit, cursor=cursor
        )

    def ids_of(self, reseller_id: UUID) -> list[UUID]:
        """Every user id of the tenant (a tenant has a handful of users)."""
        statement = sql.SQL("SELECT id FROM {}.users WHERE reseller_id = %s").format(
            sql.Identifier(self.schema)
        )
        return [row["id"] for row in self.fetch_all(statement, (reseller_id,))]
