"""Where sandbox runs happen, behind one interface (base.py): in this process's pool (local.py, the default), or on
executor services over HTTP (remote.py, `DAJ_EXECUTOR_URLS`); and how a request gets its share of them (fair.py)."""

from service.runners.base import ExecutorStatus, Runner
from service.runners.fair import FairSlots
from service.runners.local import LocalRunner
from service.runners.remote import RemoteRunner

__all__ = ["ExecutorStatus", "FairSlots", "LocalRunner", "RemoteRunner", "Runner"]
