"""What the fork server of ``bench evaluate --jobs N`` imports once, before it forks any worker.

Every unit imports these (~5 s per process on a 2-core machine): torch, dynamo (every ``torch.optim``
step imports it), scipy.stats (the k-way metric), MLflow with its SQL store (live curves), the unit
code. A worker forked from the server starts with them loaded. Imports only: the server must not
start threads before it forks, and none of these do on import.

The server dies with the driver that started it (:func:`~bench.execution.executors.die_with_parent`;
its workers die with it in turn): by default a fork server outlives its driver as long as any of its
workers runs. Last, the imported objects are moved out of the garbage collector's reach (:func:`gc.freeze`): a
collection in a worker would otherwise write to every one of them and copy their memory pages from
the server, one page fault at a time.
"""

import gc

import mlflow.store.tracking.sqlalchemy_store  # noqa: F401  (the store of sqlite/postgres URIs)
import mlflow.tracking  # noqa: F401
import scipy.stats  # noqa: F401
import torch  # noqa: F401
import torch._dynamo  # noqa: F401

import bench.execution.unit  # noqa: F401
from bench.execution.executors import die_with_parent

die_with_parent()
gc.freeze()
