"""Reviews and comments on a live hub server: they feed the model JSON's stats."""

from __future__ import annotations

from tests.hub.server.community.conftest import Community


def _stats(community: Community) -> tuple[dict, dict]:
    model = community.anonymous.get(f"/models/{community.model_id}").json()
    version = next(v for v in model["modelVersions"] if v["id"] == community.version_id)
    return model["stats"], version["stats"]


def test_thumbs_feed_the_model_stats_one_review_per_user_per_version(community: Community) -> None:
    fan, critic = community.reader, community.account("critic")
    path = f"/model-versions/{community.version_id}/review"
    up = fan.http.put(path, json={"recommended": True, "details": "Lovely **lines**"})
    assert up.status_code == 201, up.text
    assert up.json()["details"] == "<p>Lovely <strong>lines</strong></p>"
    assert critic.http.put(path, json={"recommended": False}).status_code == 201
    model, version = _stats(community)
    assert (model["thumbsUpCount"], model["thumbsDownCount"], model["ratingCount"], model["rating"]) == (
        1,
        1,
        2,
        2.5,
    )
    assert (version["thumbsUpCount"], version["thumbsDownCount"], version["rating"]) == (1, 1, 2.5)

    edited = critic.http.put(path, json={"recommended": True, "details": "Changed my mind"})
    assert edited.status_code == 200 and edited.json()["id"] != up.json()["id"]
    model, _ = _stats(community)
    assert (model["thumbsUpCount"], model["thumbsDownCount"], model["rating"]) == (2, 0, 5.0)
    reviews = community.anonymous.get(f"/model-versions/{community.version_id}/reviews").json()
    assert reviews["metadata"]["totalItems"] == 2
    assert {r["user"]["username"]: r["recommended"] for r in reviews["items"]} == {
        "reader1": True,
        "critic": True,
    }

    assert fan.http.delete(path).status_code == 204
    assert fan.http.delete(path).status_code == 404
    model, _ = _stats(community)
    assert (model["thumbsUpCount"], model["thumbsDownCount"], model["ratingCount"]) == (1, 0, 1)

    # the change reaches mirrors: the model's feed entry carries the new stats
    feed = community.anonymous.get("/sync/changes", params={"limit": 1000}).json()["items"]
    entry = next(i for i in feed if i["entity"] == "model" and i["id"] == community.model_id)
    assert entry["data"]["stats"]["thumbsUpCount"] == 1

    own = community.creator.http.put(path, json={"recommended": True})
    assert own.status_code == 403
    bad = fan.http.put(path, json={"recommended": "yes", "details": 3, "stars": 5})
    assert bad.status_code == 400
    for field in ("recommended", "details", "stars"):
        assert field in bad.json()["error"]
    assert fan.http.put("/model-versions/99999/review", json={"recommended": True}).status_code == 404


def test_comments_count_on_models_and_articles(community: Community) -> None:
    reader, author = community.reader.http, community.creator.http
    posted = reader.post(
        f"/models/{community.model_id}/comments", json={"content": "Nice <script>x()</script>"}
    )
    assert posted.status_code == 201, posted.text
    assert "<script" not in posted.json()["content"]
    assert _stats(community)[0]["commentCount"] == 1
    listed = community.anonymous.get(f"/models/{community.model_id}/comments").json()
    assert [c["id"] for c in listed["items"]] == [posted.json()["id"]]

    article = author.post("/articles", json={"title": "Inks", "content": "text"}).json()
    assert (
        reader.post(f"/articles/{article['id']}/comments", json={"content": "hi"}).status_code == 404
    )  # a draft
    author.post(f"/articles/{article['id']}/publish")
    assert reader.post(f"/articles/{article['id']}/comments", json={"content": "hi"}).status_code == 201
    assert author.get(f"/articles/{article['id']}").json()["stats"]["commentCount"] == 1

    assert author.delete(f"/comments/{posted.json()['id']}").status_code == 403
    assert reader.delete(f"/comments/{posted.json()['id']}").status_code == 204
    assert _stats(community)[0]["commentCount"] == 0
    assert reader.post(f"/models/{community.model_id}/comments", json={"content": ""}).status_code == 400
