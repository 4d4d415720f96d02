"""Profiles (materialized golden records) and the append-only changelog."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from allroads.store.base import TxBase
from allroads.store.rows import ChangeRow, NewChange, ProfileRow
from allroads.store.schema import changelog, entities, profiles

_PROFILE = (profiles.c.entity_id, entities.c.public_id, profiles.c.entity_type,
            profiles.c.display_name, profiles.c.data, profiles.c.provenance,
            profiles.c.updated_at, entities.c.created_at, entities.c.account_id)
_PROFILE_BY_ID = (sa.select(*_PROFILE).join(entities, entities.c.id == profiles.c.entity_id)
                  .where(profiles.c.entity_id == sa.bindparam("id")))
_UPDATE_PROFILE = profiles.update().where(profiles.c.entity_id == sa.bindparam("b_id")).values(
    display_name=sa.bindparam("b_name"), data=sa.bindparam("b_data"),
    provenance=sa.bindparam("b_provenance"), search_text=sa.bindparam("b_search"),
    updated_at=sa.bindparam("b_now"))
_INSERT_PROFILE = profiles.insert()
_INSERT_CHANGES = changelog.insert()


class ProfileQueries(TxBase):
    def put_profile(self, tenant_id: int, entity_id: int, entity_type: str, display_name: str,
                    data: dict[str, Any], provenance: dict[str, Any], search_text: str,
                    now: dt.datetime, *, new: bool = False) -> None:
        """Store the profile; `new`: the caller knows there is none yet (skip the update)."""
        name = display_name[:500]
        updated = 0 if new else self._run(_UPDATE_PROFILE, {
            "b_id": entity_id, "b_name": name, "b_data": data, "b_provenance": provenance,
            "b_search": search_text, "b_now": now})
        if not updated:
            self._run(_INSERT_PROFILE, {
                "entity_id": entity_id, "tenant_id": tenant_id, "entity_type": entity_type,
                "display_name": name, "data": data, "provenance": provenance,
                "search_text": search_text, "updated_at": now})

    def delete_profile(self, entity_id: int) -> None:
        self.conn.execute(profiles.delete().where(profiles.c.entity_id == entity_id))

    def profile(self, entity_id: int) -> ProfileRow | None:
        row = self._first(_PROFILE_BY_ID, {"id": entity_id})
        return ProfileRow(*row) if row else None

    def profiles_by_id(self, entity_ids: Iterable[int]) -> dict[int, ProfileRow]:
        wanted = sorted(set(entity_ids))
        if not wanted:
            return {}
        rows = self.conn.execute(
            sa.select(*_PROFILE).join(entities, entities.c.id == profiles.c.entity_id)
            .where(profiles.c.entity_id.in_(wanted)))
        return {r.entity_id: ProfileRow(**r._mapping) for r in rows}

    def list_profiles(self, tenant_id: int, entity_type: str, *, after_id: int | None,
                      limit: int, query: str | None = None, account_id: int | None = None,
                      orphans_only: bool = False) -> list[ProfileRow]:
        """Active entities' profiles in id order (cursor = last id), optionally filtered."""
        q = (sa.select(*_PROFILE).join(entities, entities.c.id == profiles.c.entity_id)
             .where(profiles.c.tenant_id == tenant_id, profiles.c.entity_type == entity_type,
                    entities.c.status == "active")
             .order_by(profiles.c.entity_id).limit(limit))
        if after_id is not None:
            q = q.where(profiles.c.entity_id > after_id)
        if query:
            for word in query.lower().split():
                escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                q = q.where(profiles.c.search_text.like(f"%{escaped}%", escape="\\"))
        if account_id is not None:
            q = q.where(entities.c.account_id == account_id)
        if orphans_only:
            q = q.where(entities.c.account_id.is_(None))
        return [ProfileRow(**r._mapping) for r in self.conn.execute(q)]

    def count_profiles(self, tenant_id: int, entity_type: str, *, orphans_only: bool = False
                       ) -> int:
        q = (sa.select(sa.func.count()).select_from(entities)
             .where(entities.c.tenant_id == tenant_id, entities.c.entity_type == entity_type,
                    entities.c.status == "active"))
        if orphans_only:
            q = q.where(entities.c.account_id.is_(None))
        return int(self.conn.execute(q).scalar_one())

    # Changelog --------------------------------------------------------------------------
    def append_changes(self, tenant_id: int, changes: Sequence[NewChange]) -> None:
        if changes:
            self._run_many(_INSERT_CHANGES, [
                {"tenant_id": tenant_id, "entity_id": c.entity_id, "at": c.at,
                 "touchpoint": c.touchpoint, "initiator": c.initiator, "field": c.field,
                 "old": c.old, "new": c.new, "merge_public_id": c.merge_public_id,
                 "import_id": c.import_id}
                for c in changes])

    def changes(self, entity_ids: Iterable[int], *, after_id: int | None, limit: int
                ) -> list[ChangeRow]:
        wanted = sorted(set(entity_ids))
        q = (sa.select(changelog.c.id, changelog.c.entity_id, changelog.c.at,
                       changelog.c.touchpoint, changelog.c.initiator, changelog.c.field,
                       changelog.c.old, changelog.c.new, changelog.c.merge_public_id,
                       changelog.c.import_id)
             .where(changelog.c.entity_id.in_(wanted)).order_by(changelog.c.id).limit(limit))
        if after_id is not None:
            q = q.where(changelog.c.id > after_id)
        return [ChangeRow(**r._mapping) for r in self.conn.execute(q)]
