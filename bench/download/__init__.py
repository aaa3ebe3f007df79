"""Fetching published datasets and weights: ``bench data download`` / ``bench weights download``.

- :mod:`bench.download.sources`   the one table of remote sources, with provenance
- :mod:`bench.download.resolve`   hosts' file APIs -> download URL, size, published checksum
- :mod:`bench.download.http`      resumable (HTTP range), verified, atomic downloads; ``--mirror``
- :mod:`bench.download.archives`  safe, atomic unpacking into the loaders' layouts
- :mod:`bench.download.manifest`  per-dataset record of what was put in place (sizes, SHA-256)
- :mod:`bench.download.data`      ``download_dataset``
- :mod:`bench.download.weights`   ``download_weights`` (open_clip / timm / dreamsim / metric extractors)
"""
