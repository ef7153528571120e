"""Settings of one hub server, passed in (never read from a global)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

GIB = 1024**3


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path
    # The database (sqlite:///path or postgresql://user@host:port/db); None: hub.db in data_dir.
    database: str | None = None
    # Absolute URLs (downloadUrl, image url) use this origin when set, else the request's own.
    public_url: str | None = None
    # Requests per minute per client IP (anonymous) and per API key; None switches a limit off.
    ip_rate_limit: int | None = 600
    key_rate_limit: int | None = 1200
    max_upload_bytes: int = 16 * GIB
    max_files_per_upload: int = 8
    max_images_per_upload: int = 16
    max_image_bytes: int = 16 * 1024 * 1024
    # How often download counts are folded into model stats (and the feed); 0 switches it off.
    stats_refresh_seconds: float = 300.0
    # Proxies (IP addresses or networks) whose X-Forwarded-For names the client; from any other
    # peer the header is ignored and the peer's address is the client's (see client_address.py).
    trusted_proxies: tuple[str, ...] = ()
    # Behind nginx: answer downloads with `X-Accel-Redirect: <prefix>/<file path>` and let nginx
    # send the bytes (sendfile, Range) from an `internal` location aliased to the data directory.
    accel_redirect: str | None = None
    # Community features switched off (404 on their routes): names in hub.server.features.
    disabled_features: frozenset[str] = frozenset()
    # The in-process job worker (notification events, emails, digests) polls this often;
    # 0 switches it off (jobs then wait for a worker, e.g. `JobWorker.run_due()` in tests).
    job_poll_seconds: float = 1.0
    # The email channel (SMTP). Without a host, nobody can choose email notifications.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "atelier-hub@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    # Redis (redis://host:port/db): the cache and the rate limits shared by every server process
    # given the same URL; None keeps both in this process.
    redis_url: str | None = None
    # The worker queue (redis://... or postgresql://..., hub/server/worker_queue.py): background
    # jobs then run in `hub-server worker` processes, not in this one; None runs them in-process.
    queue_url: str | None = None

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"
