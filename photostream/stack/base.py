"""What every local service shares: folders, pid files, starting and stopping by pid, waiting for health."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from photostream.settings import Settings


class StackError(RuntimeError):
    """A service could not be installed or started; the message says what was seen."""


@dataclass(frozen=True)
class ServiceStatus:
    """One row of the `stack status` table."""

    name: str
    address: str
    version: str
    state: str
    data_dir: str


class Service(ABC):
    """A local service managed by pid.

    Subclasses say how to install (idempotently, into ``self.home``), which command runs the service, and
    how to check health with the service's own protocol. ``down`` only ever signals the pid that ``up``
    recorded, and only if that pid still runs the command we started.
    """

    name: str = ""
    #: how long `up` waits for health after starting, in seconds
    start_timeout_s: float = 90.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.stack_dir
        self.home = self.root / "opt" / self.name
        self.data_dir = self.root / "data" / self.name
        self.conf_dir = self.root / "conf" / self.name
        self.log_file = self.root / "logs" / f"{self.name}.log"
        self.pid_file = self.root / "run" / f"{self.name}.pid"

    # --- to implement -------------------------------------------------------------------------------
    @property
    @abstractmethod
    def address(self) -> str:
        """host:port clients use."""

    @abstractmethod
    def install(self) -> None:
        """Make the binaries present; a no-op when they already are."""

    @abstractmethod
    def command(self) -> Sequence[str]:
        """The foreground command line that runs the service (written configs first)."""

    @abstractmethod
    def check_health(self) -> str:
        """Return the running version, or raise if the service does not answer correctly."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Write configuration and initialise data folders before the first start (optional)."""

    def after_healthy(self) -> None:  # noqa: B027 - optional hook
        """Idempotent set-up that needs the running service (e.g. creating the photo bucket)."""

    def env(self) -> dict[str, str]:
        """Environment for the process."""
        return dict(os.environ)

    # --- shared machinery ---------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The recorded pid if that process is still alive and still ours."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return None
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return None
        return pid if self.owns(cmdline) else None

    def owns(self, cmdline: bytes) -> bool:
        """Whether a process with this NUL-separated command line is the one we started (not a reused pid)."""
        return str(self.root).encode() in cmdline or str(self.home).encode() in cmdline

    def health(self) -> str | None:
        """The version when healthy, else None."""
        try:
            return self.check_health()
        except Exception:
            return None

    def start(self) -> None:
        """Start the service in the background (its own session, so our terminal's signals don't reach it).

        A no-op while our recorded process still runs, so a second start never orphans the first.
        """
        if self.pid() is not None:
            return
        for folder in (self.data_dir, self.conf_dir, self.log_file.parent, self.pid_file.parent):
            folder.mkdir(parents=True, exist_ok=True)
        self.prepare()
        argv = list(self.command())
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                env=self.env(),
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        # Right after Popen, /proc/PID/cmdline can still be empty while execve finishes, so pid() would
        # briefly say "not ours" and wait_healthy() would report a live service as exited.
        deadline = time.monotonic() + 2.0
        while self.pid() is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)

    def wait_healthy(self, timeout_s: float | None = None) -> str:
        """Poll the health check until it answers, the process dies, or the timeout passes."""
        deadline = time.monotonic() + (timeout_s or self.start_timeout_s)
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                return self.check_health()
            except Exception as exc:
                last_error = exc
            if self.pid() is None:
                raise StackError(f"{self.name} exited during start-up; see {self.log_file}:\n{self.tail_log()}")
            time.sleep(0.5)
        raise StackError(f"{self.name} not healthy after {timeout_s or self.start_timeout_s}s: {last_error}")

    def stop(self, timeout_s: float = 30.0) -> bool:
        """SIGTERM the recorded process group, SIGKILL it if it lingers. True if something was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            while self.pid() is not None:
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def tail_log(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def status(self) -> ServiceStatus:
        version = self.health()
        running = self.pid() is not None
        if version:
            state = "healthy" if running else "healthy (not ours)"
        else:
            state = "starting/unhealthy" if running else "stopped"
        return ServiceStatus(self.name, self.address, version or "-", state, str(self.data_dir))


def run_checked(argv: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run an install step; on failure raise with its output so the user sees why."""
    result = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        output = result.stdout[-3000:] + result.stderr[-3000:]
        raise StackError(f"{' '.join(argv)} failed ({result.returncode}):\n{output}")
    return result.stdout
