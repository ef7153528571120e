"""Civitai clients' article and collection calls against a live hub server: the real `civitapy`
client from PyPI (its `Article` and `Collection` models), and raw httpx in Civitai's shape; on
SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from civitapy import CivitAIClient
from civitapy.errors import CivitAINotFoundError
from civitapy.models import Article, Collection

from tests.hub.server.community.conftest import Community, png_bytes


@pytest.fixture
def community(backend_community: Community) -> Community:
    """These tests run on each backend (SQLite, PostgreSQL)."""
    return backend_community


@pytest.fixture
def client(community: Community, tmp_path: Path) -> CivitAIClient:
    return CivitAIClient(base_url=community.hub.api, download_dir=str(tmp_path / "dl"))


def _publish(community: Community, title: str, tags: list[str]) -> int:
    http = community.creator.http
    article = http.post(
        "/articles",
        json={"title": title, "content": f"# {title}\n\nBody.", "contentFormat": "markdown", "tags": tags},
    ).json()
    http.put(f"/articles/{article['id']}/cover", content=png_bytes(), headers={"Content-Type": "image/png"})
    http.post(f"/articles/{article['id']}/publish")
    return article["id"]


def test_civitapy_lists_pages_and_reads_articles(community: Community, client: CivitAIClient) -> None:
    ids = [_publish(community, f"Ink lesson {n}", ["ink", "guide"] if n % 2 else ["ink"]) for n in range(3)]
    page = client.articles_list(limit=2)
    articles = [Article(**item) for item in page["items"]]
    assert [a.id for a in articles] == [ids[2], ids[1]]
    assert articles[0].user.username == "inkmaster" and articles[0].cover_image is not None
    assert articles[0].cover_image.url.startswith(community.hub.url)
    rest = client.articles_list(limit=2, cursor=page["metadata"]["nextCursor"])
    assert [item["id"] for item in rest["items"]] == [ids[0]] and "nextCursor" not in rest["metadata"]

    guide = next(t.id for t in articles[1].tags if t.name == "guide")
    tagged = client.articles_list(tags=[guide], username="inkmaster", query="lesson")
    assert [item["id"] for item in tagged["items"]] == [ids[1]]
    detail = Article(**client.articles_get(ids[0]))
    assert detail.title == "Ink lesson 0" and detail.content.startswith("<h1>Ink lesson 0</h1>")
    assert detail.status == "Published" and detail.published_at is not None
    with pytest.raises(CivitAINotFoundError):
        client.articles_get(99_999)


def test_civitapy_lists_and_reads_public_collections(community: Community, client: CivitAIClient) -> None:
    owner = community.reader.http
    public = owner.post("/collections", json={"name": "Inks", "type": "Model", "read": "Public"}).json()
    owner.post(f"/collections/{public['id']}/items", json={"itemId": community.model_id})
    private = owner.post("/collections", json={"name": "Hidden", "type": "Model"}).json()
    listed = [Collection(**item) for item in client.collections_list(limit=10)["items"]]
    assert [c.id for c in listed] == [public["id"]]
    assert listed[0].is_public and listed[0].type == "Model" and listed[0].user.username == "reader1"
    detail = Collection(**client.collections_get(public["id"]))
    assert detail.name == "Inks" and detail.read == "Public"
    with pytest.raises(CivitAINotFoundError):
        client.collections_get(private["id"])


def test_raw_http_in_civitais_documented_shape(community: Community) -> None:
    article_id = _publish(community, "Shape check", ["ink"])
    body = httpx.get(
        f"{community.hub.api}/articles", params={"limit": 1, "nsfw": "false", "sort": "Newest"}
    ).json()
    assert set(body) == {"items", "metadata"}
    item = body["items"][0]
    assert item["id"] == article_id
    assert {"favoriteCount", "collectedCount", "commentCount", "likeCount", "viewCount"} <= set(item["stats"])
    assert {"id", "url", "nsfwLevel", "width", "height"} <= set(item["coverImage"])
    assert item["tags"][0] == {"id": item["tags"][0]["id"], "name": "ink", "isCategory": False}
    detail = httpx.get(f"{community.hub.api}/articles/{article_id}").json()
    assert detail["content"] and detail["publishedAt"]
    bad = httpx.get(f"{community.hub.api}/articles", params={"cursor": "12"})
    assert bad.status_code == 400 and set(bad.json()) == {"error"}
