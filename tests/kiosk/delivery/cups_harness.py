"""A private, real CUPS scheduler for the printing tests: own config, spool and socket, cups-pdf queues.

cupsd runs in the foreground from a temporary folder (ServerRoot, spool, logs, a unix socket and a loopback
port of its own), so the tests neither need nor touch a system CUPS. Queues:
- cups-pdf queues (the real cups-pdf backend and PPD); each writes its PDFs to a private folder, set in
  /etc/cups/cups-pdf-<queue>.conf (cups-pdf reads config only from /etc/cups; removed at stop).
- "fault" queues: a ten-line backend that reports a printer-state-reason the way a real driver does
  (`STATE: +media-empty-error` on stderr) and then holds the job, like a printer waiting for its attendant.
  It stands in for the physical printer faults that cups-pdf cannot produce.
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
from pathlib import Path

CUPS_BIN = Path("/usr/lib/cups")
PPD = Path("/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd")
CUPS_PDF_CONF_DIR = Path("/etc/cups")

FAULT_BACKEND = """#!/bin/sh
# Test printer for the kiosk's tests: reports the fault named by its device URI, then holds the job.
if [ $# -eq 0 ]; then
  echo 'direct hkfault "Unknown" "Headshot Kiosk test fault printer"'
  exit 0
fi
reason="${DEVICE_URI#hkfault:/}"
echo "STATE: +$reason" >&2
echo "INFO: test printer reports $reason" >&2
exec sleep 120
"""


def unavailable_reason() -> str | None:
    """Why a private cupsd with cups-pdf cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "the cups-pdf backend only runs as root under cupsd (CI runs as root)"
    for tool in ("cupsd", "lpadmin", "cupsdisable", "pdfinfo", "pdfimages", "pdftoppm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup.sh installs cups, cups-pdf and poppler-utils)"
    if not (CUPS_BIN / "backend" / "cups-pdf").exists() or not PPD.exists():
        return "printer-driver-cups-pdf is not installed (scripts/setup.sh installs it)"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CupsServer:
    """One private cupsd; use start() / stop() (a pytest fixture does)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="hk-cups-"))
        # cupsd runs filters as user lp: every folder they pass through must be traversable.
        self.root.chmod(0o755)
        self.socket = self.root / "cups.sock"
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.pdf_dirs: dict[str, Path] = {}
        self._confs: list[Path] = []
        self.tag = f"hk{os.getpid()}"

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
        # ServerBin: the system's filters and backends, plus the fault backend.
        for entry in CUPS_BIN.iterdir():
            if entry.name != "backend":
                (self.root / "bin" / entry.name).symlink_to(entry)
        for entry in (CUPS_BIN / "backend").iterdir():
            (self.root / "bin" / "backend" / entry.name).symlink_to(entry.resolve())
        fault = self.root / "bin" / "backend" / "hkfault"
        fault.write_text(FAULT_BACKEND)
        fault.chmod(0o755)
        (conf / "cupsd.conf").write_text(
            f"LogLevel debug\nListen 127.0.0.1:{self.port}\nListen {self.socket}\nBrowsing Off\n"
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
                raise RuntimeError(f"cupsd exited with {self.proc.returncode}: {err[-2000:]}")
            if self.socket.exists():
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    if s.connect_ex(str(self.socket)) == 0:
                        return
            time.sleep(0.05)  # polling the socket with a deadline
        self.stop()
        raise RuntimeError(f"cupsd did not open {self.socket} within {timeout_s} s")

    def stop(self) -> None:
        """Stop cupsd (and the jobs it runs), remove the cups-pdf configs and the private folder."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
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
            raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def add_pdf_queue(self, name: str) -> Path:
        """A cups-pdf queue whose PDFs land in the returned folder."""
        queue = f"{self.tag}{name}"
        out = self.root / "pdf" / name
        out.mkdir(parents=True)
        out.chmod(0o1777)
        conf = CUPS_PDF_CONF_DIR / f"cups-pdf-{queue}.conf"
        conf.write_text(f"Out {out}\nAnonDirName {out}\nLabel 1\n")
        self._confs.append(conf)
        # cups-pdf ignores the copies attribute; like most photo printers driven through CUPS, let the
        # pdftopdf filter make the copies (one page per copy), so the tests can count them.
        ppd = self.root / "conf" / f"{queue}-src.ppd"
        ppd.write_text(
            PPD.read_text(errors="replace").replace(
                "*DefaultPageSize:", "*cupsManualCopies: True\n*DefaultPageSize:", 1
            )
        )
        self.lp("lpadmin", "-p", queue, "-E", "-v", f"cups-pdf:/{queue}", "-P", str(ppd))
        self.pdf_dirs[queue] = out
        return out

    def add_fault_queue(self, name: str, reason: str) -> str:
        """A queue whose printer reports `reason` (e.g. media-empty-error) as soon as it gets a job."""
        queue = f"{self.tag}{name}"
        self.lp("lpadmin", "-p", queue, "-E", "-v", f"hkfault:/{reason}", "-P", str(PPD))
        return queue

    def wait_for_pdf(self, queue: str, job_id: int, timeout_s: float = 60.0) -> Path:
        """The PDF cups-pdf wrote for job_id (polled with a deadline)."""
        pattern = re.compile(rf"job_{job_id}(?!\d)")
        out = self.pdf_dirs[queue]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for path in out.glob("*.pdf"):
                if pattern.search(path.name):
                    return path
            time.sleep(0.05)  # polling the output folder with a deadline
        raise AssertionError(
            f"no PDF for job {job_id} in {out}: {sorted(p.name for p in out.iterdir())}; "
            f"log tail: {self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        """The end of cupsd's error log, for failure messages."""
        log = self.root / "log" / "error_log"
        if not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
