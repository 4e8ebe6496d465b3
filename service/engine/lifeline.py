"""The engine's processes die with the service that started them, however it dies.

vLLM runs the judge in child processes (EngineCore, and its Worker). When the service is SIGKILLed (a supervisor's
short grace period, the OOM killer), nothing tells them: they are re-parented to init, the EngineCore ignores
SIGTERM while it initialises, and the Worker was seen spinning a core for minutes. vLLM loads its "general
plugins" in every one of its processes, so this module is one (the entry point `vllm.general_plugins` in
pyproject.toml): in a process started under a daj engine (`OWNER_ENV` names the service's pid) it starts a
thread that watches the parent, and the moment the parent is gone the process kills itself. The Worker's parent is
the EngineCore, so the two go down as a chain. Polling `getppid` is used rather than PR_SET_PDEATHSIG, which fires
when the parent *thread* that spawned the child exits (the engine is built in a worker thread).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

logger = logging.getLogger(__name__)

OWNER_ENV = "DAJ_ENGINE_OWNER_PID"
PLUGIN_NAME = "daj_lifeline"  # its entry point's name in pyproject.toml
POLL_S = 0.2


def arm() -> None:
    """vLLM's plugin hook, called once in each of its processes: watch the parent in the engine's children."""
    owner = os.environ.get(OWNER_ENV)
    if not owner or owner == str(os.getpid()):
        return  # not under a daj engine, or the service process itself
    parent = os.getppid()
    if parent == 1 and owner != "1":  # re-parented to init before this ran: the service is already gone
        _exit_with_parent(parent)
    threading.Thread(target=_watch, args=(parent,), name="daj-lifeline", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_S)
    _exit_with_parent(parent)


def _exit_with_parent(parent: int) -> None:
    logger.warning("daj lifeline: parent %d is gone; process %d exits with it", parent, os.getpid())
    os.kill(os.getpid(), signal.SIGKILL)
