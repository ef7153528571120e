"""Articles on a live hub server: authoring, sanitising, visibility, Civitai's list and detail."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from markdown_it import MarkdownIt

from tests.hub.server.community.conftest import Community, Template, png_bytes, start_community


def _create(http: httpx.Client, **fields) -> dict:
    body = {"title": "A guide to ink", "content": "Some **ink** tips.", "contentFormat": "markdown"} | fields
    response = http.post("/articles", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_an_article_is_a_draft_until_published_then_listed_and_read(community: Community) -> None:
    author, anonymous = community.creator.http, community.anonymous
    draft = _create(author, tags=["Guide", "ink"], modelIds=[community.model_id])
    assert draft["status"] == "Draft" and draft["publishedAt"] is None
    assert draft["content"] == "<p>Some <strong>ink</strong> tips.</p>"
    assert [t["name"] for t in draft["tags"]] == ["guide", "ink"]
    assert draft["models"] == [{"id": community.model_id, "name": "Ink Style", "type": "LORA"}]
    assert draft["user"]["username"] == "inkmaster"

    assert anonymous.get(f"/articles/{draft['id']}").status_code == 404  # a draft is not there for others
    assert community.reader.http.get(f"/articles/{draft['id']}").status_code == 404
    assert author.get(f"/articles/{draft['id']}").status_code == 200
    assert anonymous.get("/articles").json()["items"] == []
    assert [a["id"] for a in author.get("/me/articles").json()["items"]] == [draft["id"]]

    published = author.post(f"/articles/{draft['id']}/publish").json()
    assert published["status"] == "Published" and published["publishedAt"]
    listed = anonymous.get("/articles").json()
    assert [a["id"] for a in listed["items"]] == [draft["id"]]
    assert "content" not in listed["items"][0]  # the list is a summary, as on Civitai
    assert listed["metadata"] == {}
    detail = anonymous.get(f"/articles/{draft['id']}").json()
    assert detail["content"] == draft["content"] and detail["title"] == "A guide to ink"
    for key in ("id", "title", "publishedAt", "user", "tags", "coverImage", "stats", "nsfwLevel"):
        assert key in detail

    # views are counted on the detail route and folded in with the stats refresh
    for _ in range(3):
        anonymous.get(f"/articles/{draft['id']}")
    community.hub.store.refresh_stats()
    assert anonymous.get(f"/articles/{draft['id']}").json()["stats"]["viewCount"] == 4


ATTACKS = {
    "script": "<script>alert('x')</script>",
    "event handler": '<img src="x.png" onerror="alert(1)"><p onclick="steal()">hi</p>',
    "javascript url": '<a href="javascript:alert(1)">a</a><a href="JaVaScRiPt:alert(2)">b</a>'
    '<a href="jav&#x09;ascript:alert(3)">c</a>',
}
MARKDOWN_ATTACKS = {
    "script": "<script>alert('x')</script> text",
    "event handler": '<img src="x.png" onerror="alert(1)"> ![i](x.png "t")',
    "javascript url": "[a](javascript:alert(1)) [b](JAVASCRIPT:alert(2)) <a href='javascript:alert(3)'>c</a>",
}


@pytest.mark.parametrize("content_format", ["html", "markdown"])
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_scripts_event_handlers_and_javascript_urls_never_survive(
    shared_community: Community, content_format: str, attack: str
) -> None:
    source = (ATTACKS if content_format == "html" else MARKDOWN_ATTACKS)[attack]
    rendered = source if content_format == "html" else MarkdownIt("commonmark", {"html": True}).render(source)
    assert unsafe_parts(rendered)  # the attack is real before the server cleans it
    article = _create(
        shared_community.creator.http, content=f"<p>keep me</p>{source}", contentFormat=content_format
    )
    stored = shared_community.creator.http.get(f"/articles/{article['id']}").json()["content"]
    assert unsafe_parts(stored) == [] and "keep me" in stored
    assert "alert('x')" not in stored  # a script's body goes with it
    edited = shared_community.creator.http.patch(
        f"/articles/{article['id']}", json={"content": source, "contentFormat": content_format}
    )
    if edited.status_code == 200:
        assert unsafe_parts(edited.json()["content"]) == []
    else:  # nothing was left to store
        assert edited.status_code == 400 and "nothing is left" in edited.json()["error"]
    # the list and the feed carry the same stored text
    feed = shared_community.anonymous.get("/sync/changes", params={"limit": 1000}).json()["items"]
    assert all(
        unsafe_parts((i["data"] or {}).get("content", "")) == [] for i in feed if i["entity"] == "article"
    )


class _Finder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed", "style"):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            cleaned = "".join(ch for ch in (value or "") if ch.isprintable() and not ch.isspace()).lower()
            if name.startswith("on") or name == "style":
                self.found.append(f"{tag}[{name}]")
            elif name in ("href", "src", "action", "formaction", "xlink:href") and cleaned.startswith(
                ("javascript:", "vbscript:", "data:")
            ):
                self.found.append(f"{tag}[{name}={value}]")


def unsafe_parts(html: str) -> list[str]:
    """Script-capable markup in `html`: script-like tags, event handlers, script URLs."""
    finder = _Finder()
    finder.feed(html)
    return finder.found


def test_list_filters_sorts_and_cursor_walk(community: Community) -> None:
    author, other = community.creator.http, community.reader.http
    ids = []
    for n in range(5):
        tags = ["lighting"] if n % 2 else ["anatomy"]
        article = _create(author, title=f"Lantern notes {n}", tags=tags, nsfw=(n == 4))
        author.post(f"/articles/{article['id']}/publish")
        ids.append(article["id"])
    theirs = _create(other, title="Harbor sketches", tags=["lighting"])
    other.post(f"/articles/{theirs['id']}/publish")
    anonymous = community.anonymous

    newest = [a["id"] for a in anonymous.get("/articles").json()["items"]]
    assert newest == [theirs["id"], *reversed(ids[:4])]  # nsfw hidden by default
    assert ids[4] in [a["id"] for a in anonymous.get("/articles", params={"nsfw": "true"}).json()["items"]]
    by_user = anonymous.get("/articles", params={"username": "reader1"}).json()["items"]
    assert [a["id"] for a in by_user] == [theirs["id"]]
    found = anonymous.get("/articles", params={"query": "lant"}).json()["items"]
    assert sorted(a["id"] for a in found) == sorted(ids[:4])
    lighting = next(t["id"] for t in anonymous.get(f"/articles/{theirs['id']}").json()["tags"])
    tagged = anonymous.get("/articles", params={"tags": str(lighting)}).json()["items"]
    assert sorted(a["id"] for a in tagged) == sorted([ids[1], ids[3], theirs["id"]])

    seen, cursor = [], None
    while True:
        page = anonymous.get(
            "/articles", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [a["id"] for a in page["items"]]
        cursor = page["metadata"].get("nextCursor")
        if not cursor:
            break
        assert "|" in cursor and page["metadata"]["nextPage"].startswith(community.hub.url)
    assert seen == newest

    for _ in range(3):
        anonymous.get(f"/articles/{ids[0]}")
    community.hub.store.refresh_stats()
    most_viewed = anonymous.get("/articles", params={"sort": "Most Viewed", "limit": 1}).json()["items"]
    assert most_viewed[0]["id"] == ids[0]

    unsupported = anonymous.get("/articles", params={"sort": "Most Reactions"})
    assert unsupported.status_code == 400 and "not supported" in unsupported.json()["error"]
    bad = anonymous.get("/articles", params={"limit": 0, "cursor": "nope", "tags": "x"})
    assert bad.status_code == 400


def test_bad_bodies_name_every_field(community: Community) -> None:
    response = community.creator.http.post(
        "/articles", json={"title": "", "content": 5, "contentFormat": "rtf", "modelIds": [0], "extra": 1}
    )
    assert response.status_code == 400
    message = response.json()["error"]
    for field in ("title", "content", "contentFormat", "modelIds", "extra"):
        assert field in message
    missing = community.creator.http.post(
        "/articles", json={"title": "t", "content": "c", "modelIds": [987654]}
    )
    assert missing.status_code == 400 and "987654" in missing.json()["error"]
    assert community.anonymous.post("/articles", json={"title": "t", "content": "c"}).status_code == 401


def test_edit_cover_unpublish_and_delete(community: Community) -> None:
    author, reader = community.creator.http, community.reader.http
    article = _create(author)
    article_id = article["id"]
    author.post(f"/articles/{article_id}/publish")

    assert reader.patch(f"/articles/{article_id}", json={"title": "mine now"}).status_code == 403
    assert community.anonymous.patch(f"/articles/{article_id}", json={"title": "x"}).status_code == 401
    edited = author.patch(f"/articles/{article_id}", json={"title": "Ink, revised", "tags": ["ink"]}).json()
    assert edited["title"] == "Ink, revised" and [t["name"] for t in edited["tags"]] == ["ink"]

    covered = author.put(
        f"/articles/{article_id}/cover", content=png_bytes(), headers={"Content-Type": "image/png"}
    )
    assert covered.status_code == 200, covered.text
    cover = covered.json()["coverImage"]
    assert cover["width"] == 32 and cover["height"] == 24 and cover["url"].startswith(community.hub.url)
    image = httpx.get(cover["url"])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    not_image = author.put(
        f"/articles/{article_id}/cover", content=b"hello", headers={"Content-Type": "image/png"}
    )
    assert not_image.status_code == 400 and "body" in not_image.json()["error"]

    author.post(f"/articles/{article_id}/unpublish")
    assert community.anonymous.get(f"/articles/{article_id}").status_code == 404
    assert community.anonymous.get("/articles").json()["items"] == []
    assert reader.delete(f"/articles/{article_id}").status_code == 403
    assert author.delete(f"/articles/{article_id}").status_code == 204
    assert author.get(f"/articles/{article_id}").status_code == 404


def test_ids_beyond_the_64_bit_range_are_422(shared_community: Community) -> None:
    huge = 2**63
    author = shared_community.creator.http
    for method, path in (
        ("GET", f"/articles/{huge}"),
        ("PATCH", f"/articles/{huge}"),
        ("POST", f"/articles/{huge}/publish"),
        ("DELETE", f"/articles/{huge}"),
        ("GET", f"/collections/{huge}"),
        ("GET", f"/collections/{huge}/items"),
        ("DELETE", f"/collections/1/items/{huge}"),
        ("GET", f"/model-versions/{huge}/reviews"),
        ("PUT", f"/follows/models/{huge}"),
        ("POST", f"/notifications/{huge}/read"),
        ("DELETE", f"/comments/{huge}"),
    ):
        response = author.request(method, path, json={"title": "x"} if method == "PATCH" else None)
        assert response.status_code == 422, (method, path, response.text)
        assert "64-bit" in response.json()["error"]
    assert author.get("/articles/0").status_code == 400


def test_a_switched_off_feature_answers_404_and_leaves_the_feed(
    community_template: Template, tmp_path: Path
) -> None:
    with start_community(
        community_template, tmp_path / "hub", disabled_features=frozenset({"articles"})
    ) as community:
        response = community.anonymous.get("/articles")
        assert response.status_code == 404 and "switched off" in response.json()["error"]
        assert (
            community.creator.http.post("/articles", json={"title": "t", "content": "c"}).status_code == 404
        )
        assert community.anonymous.get("/collections").status_code == 200
        # the article written while the feature was on elsewhere stays out of the feed
        store = community.hub.store
        from hub.server.store.articles import ArticleFields

        article_id = store.articles.create(
            community.creator.id, ArticleFields("t", "<p>c</p>", "html", (), (), False)
        )
        store.articles.set_published(article_id, True)
        feed = community.anonymous.get("/sync/changes", params={"limit": 1000}).json()["items"]
        assert not [i for i in feed if i["entity"] == "article"]
