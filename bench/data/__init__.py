"""Datasets: one module per dataset reading its published on-disk layout (see ``base.py``)."""

from bench.data.base import BrainData, BrainDataset, ImageSet
from bench.registry import Registry

DATASETS: Registry[type[BrainDataset]] = Registry("dataset", "bench.data", base=BrainDataset, group="datasets",
                                                  symbol="DATASETS")

__all__ = ["DATASETS", "BrainData", "BrainDataset", "ImageSet"]
