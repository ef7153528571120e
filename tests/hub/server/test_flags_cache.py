"""Feature flags (users, roles, cohorts, stable percentage; off -> 404 naming the flag) and the
cache of hot reads (a write is visible on the next read) through the real server."""

from __future__ import annotations

import httpx

from hub.server.cache import LocalCache
from hub.server.feature_flags import bucket
from tests.hub.server.conftest import RunningHub, register


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _set_flag(hub: RunningHub, admin: str, name: str, **rule) -> httpx.Response:
    return httpx.put(f"{hub.api}/admin/flags/{name}", json=rule, headers=_auth(admin))


def test_flags_target_users_roles_cohorts_and_percent(empty_hub: RunningHub) -> None:
    admin = register(empty_hub.api, "admin")
    alice, bob = register(empty_hub.api, "alice"), register(empty_hub.api, "bob")
    community = ("articles", "collections", "reviews", "notifications")
    assert httpx.get(f"{empty_hub.api}/flags").json()["flags"] == dict.fromkeys(
        ("buzz", "shop", *community), True
    )

    assert _set_flag(empty_hub, admin, "shop", enabled=True, users=["alice"]).status_code == 200
    off = httpx.get(f"{empty_hub.api}/shop", headers=_auth(bob))
    assert off.status_code == 404 and "feature flag 'shop'" in off.json()["error"]
    assert httpx.get(f"{empty_hub.api}/shop").status_code == 404  # anonymous: not 100 percent
    assert httpx.get(f"{empty_hub.api}/shop", headers=_auth(alice)).status_code == 200
    assert httpx.get(f"{empty_hub.api}/flags", headers=_auth(alice)).json()["flags"]["shop"] is True

    _set_flag(empty_hub, admin, "shop", roles=["admin"])
    assert httpx.get(f"{empty_hub.api}/shop", headers=_auth(admin)).status_code == 200
    assert httpx.get(f"{empty_hub.api}/shop", headers=_auth(alice)).status_code == 404

    _set_flag(empty_hub, admin, "shop", cohorts=["beta"])
    cohort = httpx.put(
        f"{empty_hub.api}/admin/users/bob/cohorts", json={"cohorts": ["beta"]}, headers=_auth(admin)
    )
    assert cohort.status_code == 200
    assert httpx.get(f"{empty_hub.api}/shop", headers=_auth(bob)).status_code == 200

    # the other community features answer through the same flags
    _set_flag(empty_hub, admin, "articles", users=["alice"])
    assert httpx.get(f"{empty_hub.api}/articles", headers=_auth(bob)).status_code == 404
    assert httpx.get(f"{empty_hub.api}/articles", headers=_auth(alice)).status_code == 200

    _set_flag(empty_hub, admin, "buzz", enabled=False, percent=100)
    assert (
        "feature flag 'buzz'"
        in httpx.get(f"{empty_hub.api}/buzz/balance", headers=_auth(alice)).json()["error"]
    )

    bad = _set_flag(empty_hub, admin, "shop", percent=101, roles=["god"], colour="red")
    assert bad.status_code == 400 and all(w in bad.json()["error"] for w in ("percent", "roles", "colour"))
    assert _set_flag(empty_hub, alice, "shop", percent=100).status_code == 403
    rules = httpx.get(f"{empty_hub.api}/admin/flags", headers=_auth(admin)).json()["items"]
    assert {r["name"]: r["enabled"] for r in rules} == dict.fromkeys(community, True) | {
        "buzz": False,
        "shop": True,
    }


def test_percentage_rollout_is_stable_and_grows() -> None:
    users = range(1, 2001)
    at = {p: {u for u in users if bucket("newui", u) < p} for p in (10, 50)}
    assert 100 < len(at[10]) < 300 and 850 < len(at[50]) < 1150
    assert at[10] <= at[50]  # raising the percentage only adds users
    assert [bucket("newui", u) for u in users] == [bucket("newui", u) for u in users]
    assert {u for u in users if bucket("other", u) < 10} != at[10]  # each flag its own split


def test_writes_are_visible_on_the_next_read(shared_hub: RunningHub) -> None:
    hub = shared_hub
    admin = register(hub.api, "cacheadmin")
    model = httpx.get(f"{hub.api}/models", params={"limit": 1}).json()["items"][0]
    before = httpx.get(f"{hub.api}/models/{model['id']}").json()  # now cached
    hub.store.set_role("cacheadmin", "admin")
    hub.app.state.hub.forget_keys()
    edit = httpx.patch(
        f"{hub.api}/models/{model['id']}", json={"name": "Renamed by the cache test"}, headers=_auth(admin)
    )
    assert edit.status_code == 200, edit.text
    assert (
        httpx.get(f"{hub.api}/models/{model['id']}").json()["name"]
        == "Renamed by the cache test"
        != before["name"]
    )

    board = httpx.get(f"{hub.api}/leaderboards/creators", params={"by": "buzz"}).json()["items"]
    leader = board[0]
    bob = register(hub.api, "cachebob")
    grant = {"to": "cachebob", "amount": 10_000, "idempotencyKey": "cache-grant"}
    assert httpx.post(f"{hub.api}/buzz/grants", json=grant, headers=_auth(admin)).status_code == 200
    tip = {"to": board[-1]["username"], "amount": leader["buzzReceived"] + 1, "idempotencyKey": "cache-tip"}
    assert httpx.post(f"{hub.api}/buzz/tips", json=tip, headers=_auth(bob)).status_code == 200
    after = httpx.get(f"{hub.api}/leaderboards/creators", params={"by": "buzz"}).json()["items"]
    assert after[0]["username"] == board[-1]["username"]
    downloads = httpx.get(f"{hub.api}/leaderboards/creators", params={"by": "downloads", "limit": 3}).json()
    assert (
        len(downloads["items"]) == 3
        and downloads["items"][0]["downloadCount"] >= downloads["items"][1]["downloadCount"]
    )


def test_local_cache_ttl_and_invalidation() -> None:
    now = [0.0]
    cache = LocalCache(clock=lambda: now[0])
    loads = []

    def load() -> str:
        loads.append(1)
        return str(len(loads))

    assert cache.get_or_load("ns", "k", 10, load) == "1"
    assert cache.get_or_load("ns", "k", 10, load) == "1"
    now[0] = 11
    assert cache.get_or_load("ns", "k", 10, load) == "2"
    cache.invalidate("ns")
    assert cache.get_or_load("ns", "k", 10, load) == "3"
