"""colcrypt demo: the whole workflow under a live load ends with a clean dashboard; its database yields the
report in three formats and an audit trail that detects an edit; Ctrl-C leaves nothing behind.

The suite runs the demo at a tenth of its size (make demo runs it whole) to keep the suite short."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from colcrypt.cluster import Cluster

COLCRYPT = [sys.executable, "-m", "colcrypt.cli"]
PHASES = 18


def _server_readable_tmpdir() -> Path:
    """A TMPDIR the server's account can traverse (pytest's own tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="colcrypt-demo-test-"))
    path.chmod(0o755)
    return path


def _colcrypt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*COLCRYPT, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def kept_demo():
    tmp = _server_readable_tmpdir()
    reports = tmp / "reports"
    result = subprocess.run([*COLCRYPT, "demo", "--scale", "0.1", "--baseline-seconds", "3", "--keep",
                             "--report-dir", str(reports)], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "TMPDIR": str(tmp)})
    roots = list(tmp.glob("colcrypt-demo-*"))
    yield result, reports, roots
    for root in roots:
        Cluster(root).destroy()
    shutil.rmtree(tmp, ignore_errors=True)


def test_the_demo_runs_every_phase_and_the_application_loses_nothing(kept_demo):
    result, reports, _ = kept_demo
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = result.stdout
    for n in range(1, PHASES + 1):
        assert f"[{n}/{PHASES}] " in out, f"phase {n} missing"
    assert re.search(r"application transactions\s+[\d,]+ committed\s+0 failed\s+0 wrong reads", out), out[-3000:]
    assert re.search(r"rows lost or different\s+0\n", out)
    committed = int(re.search(r"([\d,]+) committed", out).group(1).replace(",", ""))
    assert committed > 100, "the application barely ran"
    assert "hash chain intact" in out and "time per phase:" in out and "in all" in out
    assert "pg_cron job" in out and "backfilled by pg_cron" in out
    assert "rollback in" in out, "the rollback rehearsal did not run"
    assert sorted(p.name for p in reports.iterdir()) == ["report.html", "report.json", "report.md"]


def test_the_demo_database_gives_the_report_and_an_audit_trail_that_shows_an_edit(kept_demo):
    result, _, roots = kept_demo
    assert result.returncode == 0 and len(roots) == 1
    dsn = Cluster(roots[0]).dsn("demo")
    for fmt in ("markdown", "html", "json"):
        report = _colcrypt("report", "--dsn", dsn, "--format", fmt)
        assert report.returncode == 0, report.stderr
        assert "AES-256-GCM" in report.stdout
    data = json.loads(_colcrypt("report", "--dsn", dsn, "--format", "json").stdout)
    assert "rollback" in json.dumps(data).lower()

    assert _colcrypt("audit", "verify", "--dsn", dsn).returncode == 0
    with psycopg.connect(dsn, autocommit=True) as su:
        su.execute("SET session_replication_role = replica")  # a superuser going round the triggers
        su.execute("UPDATE colcrypt.migration_events SET detail = detail || '{\"edited\": true}'"
                   " WHERE event_id = (SELECT min(event_id) + 3 FROM colcrypt.migration_events)")
    broken = _colcrypt("audit", "verify", "--dsn", dsn)
    assert broken.returncode == 3 and "BROKEN" in broken.stderr, broken.stderr


def test_ctrl_c_stops_the_application_and_removes_the_cluster():
    tmp = _server_readable_tmpdir()
    try:
        demo = subprocess.Popen([*COLCRYPT, "demo", "--scale", "0.05", "--baseline-seconds", "30",
                                 "--report-dir", str(tmp / "reports")], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp)})
        seen = ""
        deadline = time.monotonic() + 120
        while "performance baseline" not in seen:  # the application is running, the baseline measuring
            assert time.monotonic() < deadline and demo.poll() is None, seen
            seen += demo.stdout.readline()
        time.sleep(2)
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=60)
        assert demo.returncode == 130, (out[-2000:], err[-2000:])
        assert "interrupted" in err and "the throwaway cluster is gone" in out
        assert not list(tmp.glob("colcrypt-demo-*")), "the cluster's directory is still there"
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert str(tmp) not in ps, "a server of the demo is still running"
    finally:
        for root in tmp.glob("colcrypt-demo-*"):
            Cluster(root).destroy()
        shutil.rmtree(tmp, ignore_errors=True)
