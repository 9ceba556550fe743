"""A private, real CUPS scheduler with cups-pdf queues: for `kiosk demo` and the printing tests.

cupsd runs in the foreground from a temporary folder (ServerRoot, spool, logs, a unix socket and a loopback
port of its own), so it neither needs nor touches the system's CUPS. Each cups-pdf queue writes its PDFs to
a private folder, set in /etc/cups/cups-pdf-<queue>.conf (cups-pdf reads its config only from /etc/cups;
the file is removed at stop). cups-pdf only runs as root under cupsd, so this needs root.

Use::

    with LocalCups() as cups:
        pdf_dir = cups.add_pdf_queue("pdf")          # queue name: cups.tag + "pdf"
        ...print on it with PrintService(PrintingConfig(server=str(cups.socket)), ...)...
        pdf = cups.wait_for_pdf(queue, job_id)
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from kiosk.errors import KioskError

CUPS_BIN = Path("/usr/lib/cups")
PPD = Path("/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd")
CUPS_PDF_CONF_DIR = Path("/etc/cups")
TOOLS = ("cupsd", "lpadmin", "cupsdisable")


class LocalCupsError(KioskError):
    """The private cupsd could not start, or a job's PDF did not appear."""


def unavailable_reason(tools: tuple[str, ...] = TOOLS) -> str | None:
    """Why a private cupsd with cups-pdf cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "not root: the cups-pdf backend only runs as root under cupsd"
    for tool in tools:
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup.sh installs cups, cups-pdf and poppler-utils)"
    if not (CUPS_BIN / "backend" / "cups-pdf").exists() or not PPD.exists():
        return "printer-driver-cups-pdf is not installed (scripts/setup.sh installs it)"
    if not CUPS_PDF_CONF_DIR.is_dir():
        return f"{CUPS_PDF_CONF_DIR} does not exist (is CUPS installed?)"
    try:
        import cups  # noqa: F401  # reason: only checking that pycups is importable
    except ImportError:
        return "pycups is not installed (pip install pycups; it needs libcups2-dev)"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCups:
    """One private cupsd; start() / stop(), or use it as a context manager."""

    def __init__(self, backends: Mapping[str, str] | None = None, log_level: str = "warn") -> None:
        """Prepare the private folder (nothing runs until start()).

        Args:
            backends: extra CUPS backends to install, name → script text (the tests' fault printer).
            log_level: cupsd LogLevel (debug for tests that read the log).
        """
        self.root = Path(tempfile.mkdtemp(prefix="hk-cups-"))
        # cupsd runs filters as user lp: every folder they pass through must be traversable.
        self.root.chmod(0o755)
        self.socket = self.root / "cups.sock"
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.pdf_dirs: dict[str, Path] = {}
        self._confs: list[Path] = []
        self._backends = dict(backends or {})
        self._log_level = log_level
        self.tag = f"hk{os.getpid()}"

    def __enter__(self) -> LocalCups:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # lifecycle -------------------------------------------------------------------------------------
    def start(self, timeout_s: float = 20.0) -> None:
        """Write the private config, start cupsd in the foreground and wait until its socket answers."""
        conf = self.root / "conf"
        for name, mode in (
            ("conf", 0o755),
            ("spool", 0o710),
            ("cache", 0o755),
            ("state", 0o755),
            ("log", 0o755),
            ("tmp", 0o1777),
            ("bin", 0o755),
            ("bin/backend", 0o755),
        ):
            (self.root / name).mkdir(exist_ok=True)
            (self.root / name).chmod(mode)
        # ServerBin: the system's filters and backends, plus any extra backend.
        for entry in CUPS_BIN.iterdir():
            if entry.name != "backend":
                (self.root / "bin" / entry.name).symlink_to(entry)
        for entry in (CUPS_BIN / "backend").iterdir():
            (self.root / "bin" / "backend" / entry.name).symlink_to(entry.resolve())
        for name, script in self._backends.items():
            backend = self.root / "bin" / "backend" / name
            backend.write_text(script)
            backend.chmod(0o755)
        (conf / "cupsd.conf").write_text(
            f"LogLevel {self._log_level}\nListen 127.0.0.1:{self.port}\nListen {self.socket}\nBrowsing Off\n"
            "DefaultAuthType None\nWebInterface No\nPreserveJobFiles No\nPreserveJobHistory Yes\n"
            "ErrorPolicy stop-printer\n"
            "<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
            "<Location /admin>\n  Order allow,deny\n  Allow all\n</Location>\n"
            "<Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n"
        )
        (conf / "cups-files.conf").write_text(
            f"ServerRoot {conf}\nRequestRoot {self.root / 'spool'}\nCacheDir {self.root / 'cache'}\n"
            f"StateDir {self.root / 'state'}\nTempDir {self.root / 'tmp'}\n"
            f"AccessLog {self.root / 'log' / 'access_log'}\nErrorLog {self.root / 'log' / 'error_log'}\n"
            f"PageLog {self.root / 'log' / 'page_log'}\nServerBin {self.root / 'bin'}\n"
            "DataDir /usr/share/cups\n"
            "User lp\nGroup lp\nSystemGroup root lpadmin\nSandboxing Relaxed\n"
        )
        self.proc = subprocess.Popen(
            ["cupsd", "-f", "-c", str(conf / "cupsd.conf"), "-s", str(conf / "cups-files.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise LocalCupsError(f"cupsd exited with {self.proc.returncode}: {err[-2000:]}")
            if self.socket.exists():
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    if s.connect_ex(str(self.socket)) == 0:
                        return
            time.sleep(0.05)  # polling the socket with a deadline
        self.stop()
        raise LocalCupsError(f"cupsd did not open {self.socket} within {timeout_s} s")

    def stop(self) -> None:
        """Stop cupsd (and the jobs it runs), remove the cups-pdf configs and the private folder."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        for path in self._confs:
            path.unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)

    # queues ----------------------------------------------------------------------------------------
    def lp(self, *args: str) -> str:
        """Run a CUPS client tool (lpadmin, cupsdisable, ...) against this server; its stdout."""
        tool, rest = args[0], list(args[1:])
        done = subprocess.run(
            [tool, "-h", str(self.socket), *rest], capture_output=True, text=True, timeout=30, check=False
        )
        if done.returncode != 0:
            raise LocalCupsError(f"{' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def add_pdf_queue(self, name: str) -> Path:
        """A cups-pdf queue named tag + name whose PDFs land in the returned folder."""
        queue = f"{self.tag}{name}"
        out = self.root / "pdf" / name
        out.mkdir(parents=True)
        out.chmod(0o1777)
        conf = CUPS_PDF_CONF_DIR / f"cups-pdf-{queue}.conf"
        conf.write_text(f"Out {out}\nAnonDirName {out}\nLabel 1\n")
        self._confs.append(conf)
        # cups-pdf ignores the copies attribute; like most photo printers driven through CUPS, let the
        # pdftopdf filter make the copies (one page per copy), so they can be counted.
        ppd = self.root / "conf" / f"{queue}-src.ppd"
        ppd.write_text(
            PPD.read_text(errors="replace").replace(
                "*DefaultPageSize:", "*cupsManualCopies: True\n*DefaultPageSize:", 1
            )
        )
        self.lp("lpadmin", "-p", queue, "-E", "-v", f"cups-pdf:/{queue}", "-P", str(ppd))
        self.pdf_dirs[queue] = out
        return out

    def wait_for_pdf(self, queue: str, job_id: int, timeout_s: float = 60.0) -> Path:
        """The PDF cups-pdf wrote for job_id (polled with a deadline); LocalCupsError when none came."""
        pattern = re.compile(rf"job_{job_id}(?!\d)")
        out = self.pdf_dirs[queue]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for path in out.glob("*.pdf"):
                # cups-pdf writes the file in place: wait until its writer (the backend) has closed it.
                if pattern.search(path.name) and path.read_bytes().rstrip().endswith(b"%%EOF"):
                    return path
            time.sleep(0.05)  # polling the output folder with a deadline
        raise LocalCupsError(
            f"no PDF for job {job_id} in {out}: {sorted(p.name for p in out.iterdir())}; "
            f"log tail: {self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        """The end of cupsd's error log, for failure messages."""
        log = self.root / "log" / "error_log"
        if not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
