"""The project's one generator of synthetic catalogs, deterministic from a seed.

Both halves of the hub use it, and it imports neither (nor anything beyond the standard
library), so the local hub never imports the server or the server the local hub:

- `civitai_documents`: `sample_model` / `sample_catalog`, Civitai API JSON documents, the shape
  a mirror receives (the local hub's tests and `bench/hub_local.py`).
- `catalog_rows`: `CatalogRowGenerator`, a catalog in the shape of the hub server's tables,
  with creators, version files and preview images (`python -m hub.server seed`, the server's
  tests and `bench/hub_server.py`).

The two keep their own vocabularies and distributions: the benchmark figures and test
expectations of each side were measured on exactly the data it produces today.
"""

from hub.catalog_generator.catalog_rows import (
    CatalogRowGenerator,
    FileSource,
    GeneratedModel,
    GeneratedVersion,
    ModelFile,
    PreviewImage,
)
from hub.catalog_generator.civitai_documents import sample_catalog, sample_model

__all__ = [
    "CatalogRowGenerator",
    "FileSource",
    "GeneratedModel",
    "GeneratedVersion",
    "ModelFile",
    "PreviewImage",
    "sample_catalog",
    "sample_model",
]
