"""The community commands of `hub` (offline, from the mirror): articles, collections and the
account's notifications. `hub/cli.py` registers them; they print, `LocalHub` does the work.

    hub articles [QUERY] [--tag T] [--creator NAME] [--sort relevance|newest|views]
    hub article ID [--comments]  the article's text, tags, linked models, cover (and comments)
    hub reviews MODEL_ID [--version V]   a model's reviews and its thumbs up / down
    hub comments (--model ID | --article ID)
    hub collections [--mine]     public collections and the account's own
    hub collection ID            a collection's items
    hub notifications [--unread] the account's notifications as of the last sync

Every user name is shown with what they wear from the hub's shop, e.g.
`inkmaster (name colour Teal #2a9d8f, badge Gold)`.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from html.parser import HTMLParser
from typing import Any

from hub.local import LocalHub
from hub.search import SearchQuery

ARTICLE_SORTS = {"relevance": "relevance", "newest": "newest", "views": "downloads"}
BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "tr", "br", "hr"}


def add_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    articles = commands.add_parser("articles", parents=[common], help="search the mirrored articles")
    articles.add_argument("query", nargs="?", default="")
    articles.add_argument("--tag", action="append", default=[], dest="tags")
    articles.add_argument("--creator", help="the author's username")
    nsfw = articles.add_mutually_exclusive_group()
    nsfw.add_argument("--nsfw", dest="nsfw", action="store_const", const=True, default=None, help="only NSFW")
    nsfw.add_argument("--sfw", dest="nsfw", action="store_const", const=False, help="hide NSFW")
    articles.add_argument("--sort", choices=tuple(ARTICLE_SORTS), default="relevance")
    articles.add_argument("--page", type=int, default=1)
    articles.add_argument("--limit", type=int, default=20)
    articles.add_argument(
        "--prefix", action="store_true", help="treat the last word as a prefix (as you type)"
    )
    articles.add_argument("--json", action="store_true")

    article = commands.add_parser("article", parents=[common], help="read a mirrored article")
    article.add_argument("article_id", type=int)
    article.add_argument("--json", action="store_true", help="the article object as the server sent it")
    article.add_argument("--width", type=int, default=88, help="wrap the text at this width")
    article.add_argument("--comments", action="store_true", help="also print the comments")

    reviews = commands.add_parser("reviews", parents=[common], help="a mirrored model's reviews")
    reviews.add_argument("model_id", type=int)
    reviews.add_argument("--version", type=int, help="only this version's reviews")
    reviews.add_argument("--limit", type=int, default=50)
    reviews.add_argument("--json", action="store_true")

    comments = commands.add_parser(
        "comments", parents=[common], help="mirrored comments on a model or article"
    )
    on = comments.add_mutually_exclusive_group(required=True)
    on.add_argument("--model", type=int, dest="model_id")
    on.add_argument("--article", type=int, dest="article_id")
    comments.add_argument("--limit", type=int, default=100)
    comments.add_argument("--width", type=int, default=88)
    comments.add_argument("--json", action="store_true")

    collections = commands.add_parser("collections", parents=[common], help="list mirrored collections")
    collections.add_argument("--mine", action="store_true", help="only the account's own (private ones too)")
    collections.add_argument("--limit", type=int, default=100)
    collections.add_argument("--json", action="store_true")

    collection = commands.add_parser("collection", parents=[common], help="show a collection and its items")
    collection.add_argument("collection_id", type=int)
    collection.add_argument("--json", action="store_true")

    notifications = commands.add_parser(
        "notifications", parents=[common], help="the account's notifications (synced with --api-key)"
    )
    notifications.add_argument("--unread", action="store_true", help="only unread ones")
    notifications.add_argument("--limit", type=int, default=50)
    notifications.add_argument("--json", action="store_true")


class _Text(HTMLParser):
    """Sanitised article HTML as readable text: blocks on their own lines, list items with
    dashes, headings underlined, links followed by their address."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []  # (kind: "text" | "heading" | "item", text)
        self.current: list[str] = []
        self.href: str | None = None
        self.kind = "text"

    def _flush(self) -> None:
        text = " ".join("".join(self.current).split())
        if text:
            self.blocks.append((self.kind, text))
            if self.kind == "item":
                self.kind = "text"  # one dash per list item, however many paragraphs it holds
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS:
            self._flush()
            if tag == "li":
                self.kind = "item"
            elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                self.kind = "heading"
        if tag == "a":
            self.href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.href:
            self.current.append(f" ({self.href})")
            self.href = None
        if tag in BLOCKS:
            self._flush()
            if tag != "p":
                self.kind = "text"

    def handle_data(self, data: str) -> None:
        self.current.append(data)

    def text(self, width: int) -> str:
        self._flush()
        lines: list[str] = []
        for kind, block in self.blocks:
            if kind == "heading":
                lines += [block, "=" * min(len(block), width), ""]
            elif kind == "item":
                lines += textwrap.wrap("- " + block, width, subsequent_indent="  ")
            else:
                if lines and lines[-1] and lines[-1].startswith(("- ", "  ")):
                    lines.append("")
                lines += [*textwrap.wrap(block, width), ""]
        return "\n".join(lines).rstrip() + "\n"


def html_to_text(html: str, width: int = 88) -> str:
    parser = _Text()
    parser.feed(html or "")
    return parser.text(width)


COSMETIC_LABELS = (("nameColor", "name colour"), ("badge", "badge"), ("decoration", "decoration"))


def name_with_cosmetics(person: dict[str, Any] | None) -> str:
    """A user's name and what they wear: `inkmaster (name colour Teal #2a9d8f, badge Gold)`."""
    person = person or {}
    name = person.get("username") or "-"
    worn = person.get("cosmetics") or {}
    parts = []
    for key, label in COSMETIC_LABELS:
        item = worn.get(key)
        if isinstance(item, dict):
            parts.append(" ".join(str(p) for p in (label, item.get("name"), item.get("value")) if p))
    return f"{name} ({', '.join(parts)})" if parts else name


def cmd_articles(args: argparse.Namespace, hub: LocalHub) -> int:
    query = SearchQuery(
        text=args.query,
        creator=args.creator,
        tags=tuple(args.tags),
        nsfw=args.nsfw,
        sort=ARTICLE_SORTS[args.sort],
        page=args.page,
        page_size=args.limit,
        as_you_type=args.prefix,
        kind="article",
    )
    page = hub.search(query)
    result = page.result
    if args.json:
        print(
            json.dumps(
                {"total": result.total, "page": result.page, "fuzzy": result.fuzzy_used, "items": page.items}
            )
        )
        return 0
    note = " (allowing one typo)" if result.fuzzy_used else ""
    print(f"{result.total} articles{note}")
    worn = hub.cosmetics([row["creator"] for row in page.items if row["creator"]])
    for row in page.items:
        date = (row["publishedAt"] or "")[:10]
        author = name_with_cosmetics({"username": row["creator"], "cosmetics": worn.get(row["creator"])})
        print(f"{row['id']:>8}  {row['title'][:56]:<56} {author:<18} {date}  {row['views']:>7} views")
    return 0


def cmd_article(args: argparse.Namespace, hub: LocalHub) -> int:
    article = hub.article(args.article_id)
    if article is None:
        print(f"hub: article {args.article_id} is not in the local mirror", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(article, indent=2))
        return 0
    print(article["title"])
    print(
        f"by {name_with_cosmetics(article.get('user'))}, published {(article.get('publishedAt') or '')[:10]}"
    )
    cover = hub.article_cover(args.article_id)
    if cover:
        print(f"cover: {cover}")
    elif article.get("coverImage"):
        print("cover: not fetched yet (the next `hub sync` fetches it)")
    tags = ", ".join(t.get("name", "") for t in article.get("tags") or [])
    if tags:
        print(f"tags: {tags}")
    models = article.get("models") or []
    if models:
        names = hub.model_names([m["id"] for m in models])
        print("models: " + ", ".join(f"{names.get(m['id'], m.get('name'))} ({m['id']})" for m in models))
    print()
    print(html_to_text(article.get("content") or "", args.width), end="")
    if args.comments:
        _print_comments(hub.comments("article", args.article_id), args.width)
    return 0


def _print_comments(rows: list[dict[str, Any]], width: int) -> None:
    print(f"\n{len(rows)} comments")
    for c in rows:
        print(f"- {name_with_cosmetics(c.get('user'))}, {(c.get('createdAt') or '')[:10]}:")
        print(textwrap.indent(html_to_text(c.get("content") or "", width - 2), "  "), end="")


def _mirrored(hub: LocalHub, entity_type: str, entity_id: int) -> bool:
    known = hub.model_names([entity_id]) if entity_type == "model" else hub.article(entity_id)
    if not known:
        print(f"hub: {entity_type} {entity_id} is not in the local mirror", file=sys.stderr)
    return bool(known)


def cmd_reviews(args: argparse.Namespace, hub: LocalHub) -> int:
    if not _mirrored(hub, "model", args.model_id):
        return 1
    rows, up, down = hub.reviews(args.model_id, args.version, args.limit)
    if args.json:
        print(json.dumps({"thumbsUp": up, "thumbsDown": down, "items": rows}))
        return 0
    print(f"{up} thumbs up, {down} thumbs down")
    for r in rows:
        thumb = "up  " if r.get("recommended") else "down"
        details = " ".join(html_to_text(r.get("details") or "", 10_000).split())
        print(
            f"  {thumb} {name_with_cosmetics(r.get('user'))}  version {r.get('modelVersionId')}"
            f"  {(r.get('createdAt') or '')[:10]}{'  ' + details if details else ''}"
        )
    return 0


def cmd_comments(args: argparse.Namespace, hub: LocalHub) -> int:
    entity = ("model", args.model_id) if args.model_id is not None else ("article", args.article_id)
    if not _mirrored(hub, *entity):
        return 1
    rows = hub.comments(*entity, limit=args.limit)
    if args.json:
        print(json.dumps(rows))
        return 0
    _print_comments(rows, args.width)
    return 0


def cmd_collections(args: argparse.Namespace, hub: LocalHub) -> int:
    rows = hub.collections(args.mine, args.limit)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{len(rows)} collections")
    for c in rows:
        owner = name_with_cosmetics(c.get("user"))
        flag = "mine, " if c["mine"] else ""
        print(
            f"{c['id']:>8}  {c['name'][:40]:<40} {c['type']:<8} {c['itemCount']:>5} items  by {owner} ({flag}{c['read'].lower()})"
        )
    return 0


def cmd_collection(args: argparse.Namespace, hub: LocalHub) -> int:
    found = hub.collection(args.collection_id)
    if found is None:
        print(f"hub: collection {args.collection_id} is not in the local mirror", file=sys.stderr)
        return 1
    collection, items = found
    if args.json:
        print(json.dumps(collection | {"items": items}))
        return 0
    owner = name_with_cosmetics(collection.get("user"))
    print(f"{collection['name']}  [{collection['type']}, {collection['read']}]  by {owner}")
    if collection.get("description"):
        print(f"  {collection['description']}")
    for item in items:
        print(
            f"  {collection['type'].lower()} {item['id']}: {item['name'] or '(not in the mirror)'}  added {(item['addedAt'] or '')[:10]}"
        )
    return 0


def cmd_notifications(args: argparse.Namespace, hub: LocalHub) -> int:
    rows, unread = hub.notifications(args.unread, args.limit)
    if args.json:
        print(json.dumps({"unread": unread, "items": rows}))
        return 0
    print(f"{unread} unread")
    for n in rows:
        mark = " " if n.get("read") else "*"
        details: dict[str, Any] = n.get("details") or {}
        print(
            f"{mark} {(n.get('createdAt') or '')[:16].replace('T', ' ')}  {details.get('message') or n['type']}"
        )
    return 0


COMMANDS = {
    "articles": cmd_articles,
    "article": cmd_article,
    "collections": cmd_collections,
    "collection": cmd_collection,
    "reviews": cmd_reviews,
    "comments": cmd_comments,
    "notifications": cmd_notifications,
}
