"""Where the local hub keeps its things: the data dir, the hub folder inside it, the models folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HUB_FOLDER = "hub-data"  # the hub's folder inside the data dir (not `hub/`: the package's name)


def default_data_dir() -> Path:
    """The studio's data dir (where it keeps atelier.db): $ATELIER_DATA_DIR or the project root."""
    configured = os.environ.get("ATELIER_DATA_DIR")
    return Path(configured).expanduser() if configured else PROJECT_ROOT


@dataclass(frozen=True)
class HubPaths:
    data_dir: Path
    models_dir: Path

    @classmethod
    def for_data_dir(cls, data_dir: Path, models_dir: Path | None = None) -> HubPaths:
        data_dir = Path(data_dir)
        return cls(data_dir, Path(models_dir) if models_dir else data_dir / "models")

    @property
    def hub_dir(self) -> Path:
        return self.data_dir / HUB_FOLDER

    @property
    def database(self) -> Path:
        return self.hub_dir / "hub.db"

    @property
    def index_dir(self) -> Path:
        return self.hub_dir / "index"

    @property
    def previews_dir(self) -> Path:
        return self.hub_dir / "previews"

    @property
    def partial_dir(self) -> Path:
        return self.hub_dir / "downloads"
