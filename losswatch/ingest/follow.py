"""A tail you can trust: follow a log file by name, through rotation, truncation and re-pointed symlinks.

One `Follower` per path, each in its own thread. It sleeps until the file system says something
changed (watchdog/inotify on the file's directory and on its symlink target's directory), reads
what was appended in large chunks and hands the bytes on (`on_data`), in order, exactly once.
Where inotify cannot see writes (NFS, CIFS, sshfs and other FUSE or network file systems, found by
file-system type, or by a size change no event reported) it polls instead. Polling costs a `stat`
per interval; inotify mode wakes once every `SAFETY_INTERVAL` seconds to notice missed events.
Overlay file systems (containers) are not polled by type: inotify sees writes made through the same
mount, the usual case; writes made under it (from the host) are caught by the missed-event check.

What happens to the file, and what the follower does:
- not there yet → wait for it (status "waiting"); it appears → read it from the start;
- size shrinks below what was read (copytruncate), or the last bytes read changed (truncated and
  written again past that point before we looked) → `on_restart("truncated")`, read again from 0;
- the name now points at another file (rename + new file, delete + recreate, a re-pointed
  symlink) → finish reading the old file to its end, then `on_restart("replaced")` and read the new
  one from 0. A new file that is still empty does not take over yet: the writer may still be
  finishing the old one (logrotate without copytruncate);
- deleted and not recreated → keep the old file open (a writer may still append to it) and wait.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def _drop_shutdown_race(record: logging.LogRecord) -> bool:
    """watchdog logs an error when an observer stops while its emitter was mid-read: harmless."""
    return "called when the thread is inactive" not in str(record.msg)


logging.getLogger("watchdog.observers.inotify").addFilter(_drop_shutdown_race)

CHUNK = 1 << 20
POLL_INTERVAL = 0.25
SAFETY_INTERVAL = 2.0
# A size change that no event reported, this long after the file's mtime, means inotify is blind here.
MISSED_EVENT_AGE = 1.0
# How many of the last bytes read are compared on each look to notice a truncate-and-rewrite that
# grew the file past our offset before we looked (copytruncate under a fast writer, polling).
SIG_BYTES = 64

# File systems where inotify does not see writes made by other machines (or at all).
POLL_FS_TYPES = {
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "lustre", "gpfs", "beegfs", "glusterfs",
    "ocfs2", "gfs2", "davfs", "vboxsf", "vmhgfs", "prl_fs", "virtiofs",
}

_IGNORED_EVENTS = {"opened", "closed_no_write"}


def _mounts() -> list[tuple[str, str]]:
    """(mount point, fs type) of every mount, longest mount point first."""
    out = []
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    mnt = parts[1].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
                    out.append((mnt, parts[2]))
    except OSError:
        return []
    out.sort(key=lambda m: len(m[0]), reverse=True)
    return out


def fs_type(path: str) -> str | None:
    """File-system type of the mount holding `path` (Linux /proc), None when unknown."""
    p = os.path.realpath(path)
    for mnt, typ in _mounts():
        if p == mnt or p.startswith(mnt.rstrip("/") + "/"):
            return typ
    return None


def needs_polling(path: str) -> bool:
    """Whether inotify cannot be trusted to see writes to `path` (network or FUSE file systems)."""
    typ = fs_type(path)
    return typ is not None and (typ in POLL_FS_TYPES or typ.startswith("fuse."))


class Follower:
    """Follows one path; calls `on_data(bytes)`, `on_restart(reason)` and `on_status(kind, detail)`.

    The callbacks run on the follower's thread, in file order; `on_data` may block (back-pressure).
    `poll` is the polling interval in seconds; None means inotify where it works, else polling.
    `observer` is a started watchdog observer to share between followers (one is made if None).
    """

    def __init__(
        self,
        path: str,
        on_data: Callable[[bytes], None],
        on_restart: Callable[[str], None],
        on_status: Callable[[str, dict], None] | None = None,
        poll: float | None = None,
        observer=None,
        chunk: int = CHUNK,
    ) -> None:
        self.path = os.path.abspath(path)
        self.on_data = on_data
        self.on_restart = on_restart
        self.on_status = on_status or (lambda kind, detail: None)
        self.chunk = chunk
        self.poll_interval = poll if poll is not None else POLL_INTERVAL
        self.polling = poll is not None or needs_polling(self.path)
        self.mode_reason = "asked" if poll is not None else ("file system" if self.polling else "")
        self._observer = observer
        self._own_observer = False
        self._handlers: dict[str, tuple[object, object]] = {}  # dir → (handler, watch)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._events = 0  # file-system events seen for our paths (inotify mode)
        self._paths: frozenset[str] = frozenset({self.path})
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._id: tuple[int, int] | None = None
        self._offset = 0
        self._sig = b""  # the last bytes read: if they change, the file was rewritten under us
        self._opened_once = False
        self._status = ""
        self.bytes_read = 0

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"follow:{os.path.basename(self.path)}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._unwatch_all()
        if self._own_observer and self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)
        self._close()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wake(self) -> None:
        """Something may have changed: look now (called by watchdog, or by anyone who knows)."""
        self._wake.set()

    def _run(self) -> None:
        try:
            woken = True
            while not self._stopping.is_set():
                if not self.polling:
                    self._update_watches()
                events_before = self._events
                self._wake.clear()
                if self._stopping.is_set():  # stop() may have set the wake-up we just cleared
                    break
                backlog = self._fd is None
                try:
                    got = self._check()
                except OSError as e:  # EIO/ESTALE on a network file system: say so, try again later
                    self._set_status("error", {"error": e.strerror or str(e)})
                    got = False
                else:
                    if self._status == "error" and self._fd is not None:
                        self._set_status("following", {"mode": "poll" if self.polling else "inotify"})
                if (got and not woken and not backlog and not self.polling and self._events == events_before
                        and self._missed_event()):
                    self._switch_to_polling("a write no inotify event reported")
                woken = self._wake.wait(self.poll_interval if self.polling else SAFETY_INTERVAL)
        except Exception:  # a follower must not die silently: say why, then stop following
            log.exception("following %s failed", self.path)
            self._set_status("error", {})

    def _missed_event(self) -> bool:
        """Data appeared on a timed wake-up although the file was written long enough ago for an event."""
        if self._wake.is_set():
            return False
        try:
            mtime = os.fstat(self._fd).st_mtime if self._fd is not None else time.time()
        except OSError:
            return False
        return time.time() - mtime > MISSED_EVENT_AGE

    def _switch_to_polling(self, why: str) -> None:
        self.polling = True
        self.mode_reason = why
        self._unwatch_all()
        self._set_status("polling", {"reason": why})

    # -- reading -----------------------------------------------------------------------------------

    def _check(self) -> bool:
        """Read whatever is new; follow the name to a new file. True when bytes were read."""
        got = False
        if self._fd is None:
            if not self._open():
                return False
            got |= self._drain()
        else:
            got |= self._drain()
        st = self._stat_path()
        if st is None:
            if self._fd is not None:
                self._set_status("deleted", {})
            return got
        if (st.st_dev, st.st_ino) != self._id:
            if st.st_size == 0 and self._fd is not None and os.fstat(self._fd).st_nlink > 0:
                return got  # the new file takes over once it has data (the old one may still grow)
            got |= self._drain()  # finish the old file
            self._close()
            if self._open():
                got |= self._drain()
        return got

    def _stat_path(self) -> os.stat_result | None:
        try:
            return os.stat(self.path)
        except OSError:  # gone, a parent gone, a dangling symlink: nothing to follow right now
            return None

    def _open(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except (FileNotFoundError, NotADirectoryError):
            self._set_status("waiting", {})
            return False
        except OSError as e:
            self._set_status("unreadable", {"error": e.strerror or str(e)})
            return False
        st = os.fstat(fd)
        self._fd, self._id, self._offset, self._sig = fd, (st.st_dev, st.st_ino), 0, b""
        if self._opened_once:
            self.on_restart("replaced")
        self._opened_once = True
        self._set_status("following", {"mode": "poll" if self.polling else "inotify"})
        return True

    def _close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def _drain(self) -> bool:
        """Read the open file from where we were to its current end."""
        fd = self._fd
        if fd is None:
            return False
        if os.fstat(fd).st_size < self._offset or self._rewritten(fd):
            self._offset = 0
            self._sig = b""
            self.on_restart("truncated")
        got = False
        while not self._stopping.is_set():
            data = os.pread(fd, self.chunk, self._offset)
            if not data:
                break
            self._offset += len(data)
            self.bytes_read += len(data)
            self._sig = (self._sig + data[-SIG_BYTES:])[-SIG_BYTES:]
            got = True
            self.on_data(data)
        return got

    def _rewritten(self, fd: int) -> bool:
        """The bytes just before our offset changed: truncated and written again past it since we looked."""
        if not self._sig:
            return False
        n = len(self._sig)
        return os.pread(fd, n, self._offset - n) != self._sig

    def _set_status(self, kind: str, detail: dict) -> None:
        if kind != self._status:
            self._status = kind
            self.on_status(kind, detail)

    # -- watches -----------------------------------------------------------------------------------

    def _interesting(self) -> set[str]:
        paths = {self.path}
        try:
            paths.add(os.path.realpath(self.path))
        except OSError:
            pass
        return paths

    def _update_watches(self) -> None:
        paths = self._interesting()
        want = set()
        for p in list(paths):
            d = os.path.dirname(p)
            while not os.path.isdir(d) and os.path.dirname(d) != d:
                paths.add(d)  # a missing directory: its creation wakes us up
                d = os.path.dirname(d)
            want.add(d)
        self._paths = frozenset(paths)
        for d in list(self._handlers):
            if d not in want:
                self._unwatch(d)
        for d in want:
            if d in self._handlers:
                continue
            try:
                self._watch(d)
            except OSError as e:  # out of inotify watches, permission, ...: polling still works
                self._switch_to_polling(f"cannot watch {d}: {e.strerror or e}")
                return

    def _watch(self, d: str) -> None:
        from watchdog.events import FileSystemEventHandler

        if self._observer is None:
            from watchdog.observers import Observer

            self._observer = Observer()
            self._observer.daemon = True
            self._observer.start()
            self._own_observer = True
        follower = self

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                if event.event_type in _IGNORED_EVENTS:
                    return
                paths = follower._paths
                if event.src_path in paths or getattr(event, "dest_path", "") in paths:
                    follower._events += 1
                    follower._wake.set()

        handler = _Handler()
        watch = self._observer.schedule(handler, d, recursive=False)
        self._handlers[d] = (handler, watch)

    def _unwatch(self, d: str) -> None:
        handler, watch = self._handlers.pop(d)
        try:
            self._observer.remove_handler_for_watch(handler, watch)
        except (KeyError, ValueError):
            pass

    def _unwatch_all(self) -> None:
        for d in list(self._handlers):
            self._unwatch(d)
