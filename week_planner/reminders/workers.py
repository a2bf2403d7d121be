"""Who holds a claim on a reminder: the name a process signs its claims with
(``worker_name``), and whether the process behind such a name is known to be gone
(``gone``).

A name reads ``host:pid:random:place:start``. Host and pid are for people; the random part
tells apart two processes that share both (containers with host networking, each pid 1).
Place (a digest of the kernel's boot id and the pid namespace) and start (when the process
started, in clock ticks since boot) let a process on the same machine and in the same pid
namespace tell for sure that a claimant no longer runs: no process has its pid, or the
one that has it started at another time. Of a claimant elsewhere (another machine or
container, or no /proc) nothing is known, and the lease of its claims decides.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from pathlib import Path

PROC = Path("/proc")


def _place() -> str | None:
    try:
        boot = (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
        namespace = os.readlink(PROC / "self" / "ns" / "pid")
    except OSError:
        return None
    return hashlib.sha256(f"{boot} {namespace}".encode()).hexdigest()[:8]


def _process(pid: int) -> tuple[str, str] | None:
    """The state and start time of process ``pid``, None when they cannot be read."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the name in parentheses may hold spaces
    return (fields[0], fields[19]) if len(fields) > 19 else None


PLACE = _place()


def worker_name() -> str:
    """A new name for this process's claims (each ``Reminders`` has its own)."""
    host = socket.gethostname()[:48].replace(":", "-")
    own = _process(os.getpid()) if PLACE else None
    if own is None:
        return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}:{PLACE}:{own[1]}"


def gone(name: str | None) -> bool:
    """True only when the claimant is known to have stopped: it ran in this boot and pid
    namespace, and its pid is free, a zombie, or another process's."""
    parts = (name or "").split(":")
    if PLACE is None or len(parts) != 5 or parts[3] != PLACE or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's process: it exists
        pass
    found = _process(pid)
    if found is None:  # unreadable (hidepid): assume it lives
        return False
    state, start = found
    return state == "Z" or start != parts[4]
