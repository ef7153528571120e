"""Cosmetics next to user names: every response that shows a user (an article's author, a
reviewer, a commenter, a collection's owner, a model's creator; the people of the creator
leaderboards) carries what that user has equipped from the shop, as
`user.cosmetics` (or `creator.cosmetics`, or `cosmetics` on a listed person):
`{"badge": {"id", "name", "value"}, "nameColor": {...}, "decoration": {...}}`, `{}` for none,
the shape of the profile's `cosmetics`.

Added on the way out, per request, not stored in the documents: the change feed carries each
user's cosmetics as its own entry (entity "cosmetics"), so an equip shows next to every name at
once. While the `shop` flag is off for the caller, every `cosmetics` is `{}`. Lists sent as
stored documents (`GET /api/v1/models`, `/api/v1/creators`, equal to the feed's documents) do
not carry them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request

from hub.server.documents import dumps
from hub.server.routes.common import hub_of, user_of

USER_KEYS = ("user", "creator")


def _people(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for doc in docs:
        for key in USER_KEYS:
            person = doc.get(key)
            if isinstance(person, dict) and isinstance(person.get("username"), str):
                found.append(person)
    return found


def with_cosmetics(request: Request, docs: Iterable[dict[str, Any]]) -> None:
    """Set `cosmetics` on the `user` / `creator` object of each of `docs` (in place)."""
    people_with_cosmetics(request, _people(docs))


def people_with_cosmetics(request: Request, people: list[dict[str, Any]]) -> None:
    """Set `cosmetics` on each of `people` (objects with a `username`), in place."""
    if not people:
        return
    hub = hub_of(request)
    worn: dict[str, dict[str, Any]] = {}
    if hub.flags_for(user_of(request)).get("shop"):
        worn = hub.store.cosmetics_by_name(sorted({p["username"] for p in people}))
    for person in people:
        person["cosmetics"] = worn.get(person["username"], {})


def texts_with_cosmetics(request: Request, texts: list[str]) -> list[str]:
    """`with_cosmetics` for documents stored as JSON text (list pages)."""
    docs = [json.loads(t) for t in texts]
    with_cosmetics(request, docs)
    return [dumps(d) for d in docs]
