"""The community commands of `hub` (offline, from the mirror): articles, collections and the
account's notifications. `hub/cli.py` registers them; they print, `LocalHub` does the work.

    hub articles [QUERY] [--tag T] [--creator NAME] [--sort relevance|newest|views]
    hub article ID               the article's text, tags and linked models
    hub collections [--mine]     public collections and the account's own
    hub collection ID            a collection's items
    hub notifications [--unread] the account's notifications as of the last sync
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
    for row in page.items:
        date = (row["publishedAt"] or "")[:10]
        print(
            f"{row['id']:>8}  {row['title'][:56]:<56} {row['creator'] or '-':<18} {date}  {row['views']:>7} views"
        )
    return 0


def cmd_article(args: argparse.Namespace, hub: LocalHub) -> int:
    article = hub.article(args.article_id)
    if article is None:
        print(f"hub: article {args.article_id} is not in the local mirror", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(article, indent=2))
        return 0
    user = (article.get("user") or {}).get("username") or "-"
    print(article["title"])
    print(f"by {user}, published {(article.get('publishedAt') or '')[:10]}")
    tags = ", ".join(t.get("name", "") for t in article.get("tags") or [])
    if tags:
        print(f"tags: {tags}")
    models = article.get("models") or []
    if models:
        names = hub.model_names([m["id"] for m in models])
        print("models: " + ", ".join(f"{names.get(m['id'], m.get('name'))} ({m['id']})" for m in models))
    print()
    print(html_to_text(article.get("content") or "", args.width), end="")
    return 0


def cmd_collections(args: argparse.Namespace, hub: LocalHub) -> int:
    rows = hub.collections(args.mine, args.limit)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{len(rows)} collections")
    for c in rows:
        owner = (c.get("user") or {}).get("username") or "-"
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
    owner = (collection.get("user") or {}).get("username") or "-"
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
    "notifications": cmd_notifications,
}
