"""`python launch.py hub ...`: the local hub from the command line.

    hub sync --server URL        pull the catalog (the URL is remembered for next time)
    hub search "query" [--type LORA] [--base-model "SD 1.5"] [--sort downloads] ...
    hub show MODEL_ID            a model with its versions, files, hashes and previews
    hub download VERSION_ID      fetch a version's file into the studio's model folders
    hub scan                     hash local model files and link them to the catalog
    hub reindex                  rebuild the search index from the mirror
    hub jobs [--run]             background jobs (and run the due ones)
    hub articles / article ID / collections / collection ID / notifications
                                 the community half of the mirror, offline
    hub wallet | tip | shop | buy | equip | outbox | flags
                                 Buzz and the cosmetic shop; tips and purchases are queued
                                 offline and sent by the next sync (hub/cli_buzz.py)

Every command takes --data-dir (default: the studio's data dir; hub data goes in
<data-dir>/hub-data).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hub import cli_buzz, cli_community
from hub.download import DownloadError, DownloadEvent
from hub.jobs import PermanentJobError
from hub.local import LocalHub
from hub.paths import HUB_FOLDER
from hub.search import SORTS, SearchError, SearchQuery
from hub.sync import FeedError, HubUnavailable, SyncReport

EXIT_UNAVAILABLE = 3


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"the studio's data dir (hub data in <data-dir>/{HUB_FOLDER})",
    )
    parser = argparse.ArgumentParser(
        prog="hub", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    sync = commands.add_parser("sync", parents=[common], help="pull the catalog from the hub server")
    sync.add_argument("--server", help="hub server URL (remembered)")
    sync.add_argument("--page-size", type=int, default=500)
    sync.add_argument("--no-previews", action="store_true", help="do not download preview thumbnails")
    sync.add_argument("--retries", type=int, default=4, help="retries per request, with backoff (default 4)")
    sync.add_argument(
        "--api-key",
        help="your account's API key on the hub server (remembered; '' forgets it): also syncs "
        "your notifications and your own collections",
    )

    search = commands.add_parser("search", parents=[common], help="search the local mirror")
    search.add_argument("query", nargs="?", default="")
    search.add_argument("--type", action="append", default=[], dest="types", help="model type (repeatable)")
    search.add_argument("--base-model", action="append", default=[], dest="base_models")
    search.add_argument("--creator")
    search.add_argument("--tag", action="append", default=[], dest="tags")
    nsfw = search.add_mutually_exclusive_group()
    nsfw.add_argument("--nsfw", dest="nsfw", action="store_const", const=True, default=None, help="only NSFW")
    nsfw.add_argument("--sfw", dest="nsfw", action="store_const", const=False, help="hide NSFW")
    search.add_argument("--sort", choices=SORTS, default="relevance")
    search.add_argument("--page", type=int, default=1)
    search.add_argument("--limit", type=int, default=20)
    search.add_argument("--prefix", action="store_true", help="treat the last word as a prefix (as you type)")
    search.add_argument(
        "--kind",
        choices=("model", "article", "all"),
        default="model",
        help="what to search (default: models)",
    )
    search.add_argument("--json", action="store_true")

    show = commands.add_parser("show", parents=[common], help="show a mirrored model")
    show.add_argument("model_id", type=int)
    show.add_argument("--json", action="store_true")

    download = commands.add_parser("download", parents=[common], help="download a version into models/")
    download.add_argument("version_id", type=int)
    download.add_argument("--file-id", type=int)
    download.add_argument("--models-dir", type=Path)
    download.add_argument("--server", help="hub server URL for relative download URLs (default: remembered)")
    download.add_argument("--allow-pickle", action="store_true", help="allow .ckpt/.pt pickle files (unsafe)")
    download.add_argument(
        "--allow-dangerous",
        action="store_true",
        help="also allow a file the hub server's scan flagged as dangerous (it can run code when loaded)",
    )

    scan = commands.add_parser("scan", parents=[common], help="hash local model files and link them")
    scan.add_argument("--models-dir", type=Path)
    scan.add_argument("--online", action="store_true", help="look unknown hashes up on the hub server")

    reindex = commands.add_parser(
        "reindex", parents=[common], help="rebuild the search index from the mirror"
    )
    reindex.add_argument(
        "--procs", type=int, default=1, help="index writer processes (2 halves the time on 2 idle cores)"
    )

    jobs = commands.add_parser("jobs", parents=[common], help="list background jobs")
    jobs.add_argument("--status", choices=("pending", "running", "done", "failed"))
    jobs.add_argument("--limit", type=int, default=30)
    jobs.add_argument("--run", action="store_true", help="run the jobs that are due now")
    cli_community.add_commands(commands, common)
    cli_buzz.add_parsers(commands, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    hub = LocalHub.open(args.data_dir, getattr(args, "models_dir", None), TerminalProgress())
    try:
        return COMMANDS[args.command](args, hub)
    except HubUnavailable as error:
        print(f"hub: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (DownloadError, SearchError, FeedError, PermanentJobError, ValueError) as error:
        print(f"hub: {error}", file=sys.stderr)
        return 2
    finally:
        hub.close()


# -- progress -----------------------------------------------------------------------------------
class ProgressBar:
    def __init__(self, stream=None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width

    def __call__(self, event: DownloadEvent) -> None:
        if event.kind == "progress":
            total = event.total_bytes or 0
            fraction = event.done_bytes / total if total else 0
            filled = int(fraction * self.width)
            self.stream.write(
                f"\r[{'#' * filled}{'.' * (self.width - filled)}] {fraction:6.1%} "
                f"{event.done_bytes / 2**20:.1f}/{total / 2**20:.1f} MiB"
            )
            self.stream.flush()
        elif event.kind in ("done", "failed", "cancelled"):
            self.stream.write("\n")


class TerminalProgress:
    """The local hub's progress reports, drawn on stderr (results go to stdout)."""

    def __init__(self) -> None:
        self.download_bar = ProgressBar()

    def sync_page(self, report: SyncReport) -> None:
        print(f"\rsynced {report.items} changes ({report.pages} pages)", end="", file=sys.stderr, flush=True)

    def sync_finished(self, report: SyncReport) -> None:
        print(file=sys.stderr)

    def download_event(self, event: DownloadEvent) -> None:
        self.download_bar(event)

    def indexed(self, count: int) -> None:
        print(f"\rindexed {count}", end="", file=sys.stderr)


# -- sync ---------------------------------------------------------------------------------------
def cmd_sync(args: argparse.Namespace, hub: LocalHub) -> int:
    job_id = hub.enqueue_sync(
        args.server, args.page_size, previews=not args.no_previews, retries=args.retries, api_key=args.api_key
    )
    job = hub.run_job(job_id)
    if job.status != "done":
        first_line = (job.last_error or "").splitlines()[0] if job.last_error else "failed"
        print(f"hub: sync failed: {first_line}", file=sys.stderr)
        print(
            f"hub: local data is unchanged beyond the pages already committed; job {job.id} will retry"
            f" (`hub jobs --run`)"
            if job.status == "pending"
            else "",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE if "HubUnavailable" in (job.last_error or "") else 1
    result = job.result
    print(
        f"synced {result['items']} changes from {job.payload['server']} in {result['seconds']} s; "
        f"{result['previews']} previews; {result['indexed']} index updates"
    )
    if result.get("outbox_done") or result.get("outbox_refused") or result.get("outbox_waiting"):
        print(
            f"outbox: {result['outbox_done']} sent, {result['outbox_refused']} refused by the server, "
            f"{result['outbox_waiting']} still pending (see `hub outbox`)"
        )
    for problem in result.get("outbox_problems", []):
        print(f"hub: {problem}", file=sys.stderr)
    if result.get("previews_waiting"):
        print(
            f"hub: {result['previews_waiting']} previews could not be fetched yet; a later `hub sync` retries them",
            file=sys.stderr,
        )
    if result.get("account"):
        print(f"account {result['account']}: {result['account_items']} notification and collection changes")
    if result.get("account_error"):
        print(
            f"hub: account not synced: {result['account_error']} (`hub sync --api-key KEY`)", file=sys.stderr
        )
        return 2
    return 0


# -- search / show ------------------------------------------------------------------------------
def cmd_search(args: argparse.Namespace, hub: LocalHub) -> int:
    query = SearchQuery(
        text=args.query,
        types=tuple(args.types),
        base_models=tuple(args.base_models),
        creator=args.creator,
        tags=tuple(args.tags),
        nsfw=args.nsfw,
        sort=args.sort,
        page=args.page,
        page_size=args.limit,
        as_you_type=args.prefix,
        kind=None if args.kind == "all" else args.kind,
    )
    page = hub.search(query)
    if page.index_behind:
        print(f"hub: the index is {page.index_behind} updates behind; run `hub reindex`", file=sys.stderr)
    result, rows = page.result, page.items
    if args.json:
        print(
            json.dumps(
                {
                    "total": result.total,
                    "page": result.page,
                    "fuzzy": result.fuzzy_used,
                    "facets": result.facets,
                    "items": rows,
                }
            )
        )
        return 0
    note = " (allowing one typo)" if result.fuzzy_used else ""
    counts = ", ".join(f"{n} {kind}s" for kind, n in result.facets.items())
    print(f"{result.total} {'results' if args.kind == 'all' else args.kind + 's'}{note}  ({counts})")
    for row in rows:
        if row["kind"] == "article":
            print(f"{row['id']:>8}  {'article':<16} {row['title'][:50]:<50} {row['views']:>9} views")
        else:
            print(
                f"{row['id']:>8}  {row['type']:<16} {row['name'][:50]:<50} {row['downloads']:>9} dl  {row['rating']:.2f}"
            )
    return 0


def cmd_show(args: argparse.Namespace, hub: LocalHub) -> int:
    details = hub.model_details(args.model_id)
    if details is None:
        print(f"hub: model {args.model_id} is not in the local mirror", file=sys.stderr)
        return 1
    model, local = details.model, details.local_paths
    if args.json:
        print(json.dumps(model, indent=2))
        return 0
    stats = model.get("stats") or {}
    print(f"{model['name']}  [{model['type']}]  by {cli_community.name_with_cosmetics(model.get('creator'))}")
    print(
        f"  id {model['id']}  downloads {stats.get('downloadCount', 0)}  rating {stats.get('rating', 0)}"
        f"  nsfw {bool(model.get('nsfw'))}  tags: {', '.join(model.get('tags') or [])}"
    )
    for version in model.get("modelVersions") or []:
        print(
            f"  version {version['id']}: {version.get('name')}  base {version.get('baseModel')}"
            f"  trained words: {', '.join(version.get('trainedWords') or []) or '-'}"
        )
        if version["id"] in local:
            print(f"    on disk: {local[version['id']]}")
        for file in version.get("files") or []:
            hashes = file.get("hashes") or {}
            print(
                f"    file {file['id']}: {file.get('name')}  {file.get('sizeKB', 0):.0f} KB"
                f"  SHA256 {hashes.get('SHA256', '-')}"
            )
        for preview in details.previews[version["id"]][:3]:
            print(f"    preview: {preview}")
    return 0


# -- download -----------------------------------------------------------------------------------
def cmd_download(args: argparse.Namespace, hub: LocalHub) -> int:
    job_id = hub.enqueue_download(
        args.version_id, args.file_id, args.allow_pickle, args.server, allow_dangerous=args.allow_dangerous
    )
    try:
        job = hub.run_job(job_id)
    except KeyboardInterrupt:
        print(
            f"hub: download interrupted; `hub jobs --run` (job {job_id}) or the same command resumes it",
            file=sys.stderr,
        )
        return 130
    if job.status == "done":
        for warning in job.result.get("warnings") or []:
            print(f"hub: WARNING: {warning}", file=sys.stderr)
        print(f"saved {job.result['path']}{'' if job.result.get('verified', True) else ' (UNVERIFIED)'}")
        return 0
    first_line = (job.last_error or "failed").splitlines()[0]
    print(f"hub: {first_line}", file=sys.stderr)
    if job.status == "pending":
        print(f"hub: job {job.id} will retry and resume (`hub jobs --run`)", file=sys.stderr)
        return 1
    return 2


# -- scan / reindex / jobs ----------------------------------------------------------------------
def cmd_scan(args: argparse.Namespace, hub: LocalHub) -> int:
    report = hub.scan(online=args.online)
    print(
        f"{report.files} model files ({report.hashed} hashed, {report.cached} cached); "
        f"{report.linked} linked to the catalog ({report.found_online} found online); {report.removed} gone"
    )
    if report.online_error:
        print(f"  the hub server was not asked: {report.online_error}", file=sys.stderr)
    for model in hub.local_models():
        label = f"{model.model_name} / {model.version_name}" if model.model_id else "(not in the catalog)"
        print(f"  {model.folder}/{Path(model.path).name}: {label}")
    return 0


def cmd_reindex(args: argparse.Namespace, hub: LocalHub) -> int:
    started = time.perf_counter()
    count = hub.reindex(procs=args.procs)
    print(f"\rreindexed {count} documents (models and articles) in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_jobs(args: argparse.Namespace, hub: LocalHub) -> int:
    if args.run:
        for job in hub.run_due_jobs():
            print(f"ran job {job.id} ({job.kind}): {job.status}")
    counts = hub.jobs.counts()
    print("  ".join(f"{status}: {count}" for status, count in counts.items()))
    for job in hub.jobs.list(args.status, args.limit):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.updated_at))
        error = (job.last_error or "").splitlines()[0][:60] if job.last_error else ""
        retry = (
            f" next try {time.strftime('%H:%M:%S', time.localtime(job.run_at))}"
            if job.status == "pending"
            else ""
        )
        print(
            f"{job.id:>6}  {job.kind:<10} {job.status:<8} attempt {job.attempts}/{job.max_attempts}  {when}{retry}  {error}"
        )
    return 0


COMMANDS = {
    "sync": cmd_sync,
    "search": cmd_search,
    "show": cmd_show,
    "download": cmd_download,
    "scan": cmd_scan,
    "reindex": cmd_reindex,
    "jobs": cmd_jobs,
    **cli_community.COMMANDS,
    **cli_buzz.COMMANDS,
}

if __name__ == "__main__":
    sys.exit(main())
