"""A throwaway PostgreSQL cluster that colcrypt creates and starts itself.

Used by the embedded default of the CLI, by `make demo` and by the test suite. PostgreSQL refuses
to run as root, so when colcrypt runs as root the server runs as the 'postgres' account.
"""

import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from colcrypt.errors import ColcryptError

DEFAULT_PG_CONFIG = "/usr/lib/postgresql/15/bin/pg_config"
SERVER_ACCOUNT = "postgres"


def pg_bindir() -> Path:
    fallback = DEFAULT_PG_CONFIG if os.path.exists(DEFAULT_PG_CONFIG) else "pg_config"
    pg_config = os.environ.get("PG_CONFIG") or fallback
    try:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise ColcryptError("KC010", "pg_config not found: PostgreSQL server binaries are not installed",
                            "Run `make setup`, or apt-get install postgresql-15 postgresql-server-dev-15.") from None
    return Path(out.strip())


class Cluster:
    """A cluster in root/data, listening only on a Unix socket in root."""

    def __init__(self, root: Path, port: int = 5432):
        self.root = Path(root)
        self.data = self.root / "data"
        self.port = port
        self.log_file = self.root / "server.log"
        self.bindir = pg_bindir()
        self.run_as = SERVER_ACCOUNT if os.geteuid() == 0 else None

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        return ["runuser", "-u", self.run_as, "--", *cmd] if self.run_as else cmd

    def shell_command(self, *args: str) -> str:
        """How to run one of the server's programs on this cluster by hand (as its account)."""
        return shlex.join(self._cmd(*args))

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(self._cmd(*args), capture_output=True, text=True, cwd="/")
        if result.returncode != 0:
            raise ColcryptError("KC010", f"{args[0]} failed for cluster {self.data}: {result.stderr.strip()}",
                                f"See {self.log_file}.")
        return result

    def give_to_server(self, path: Path, mode: int) -> None:
        """Make path belong to the server's account (when running as root) with the given mode."""
        if self.run_as:
            account = pwd.getpwnam(self.run_as)
            os.chown(path, account.pw_uid, account.pw_gid)
        os.chmod(path, mode)

    def init(self, settings: dict[str, str] | None = None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.give_to_server(self.root, 0o700)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        base = {
            "port": str(self.port),
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.root}'",
            "shared_preload_libraries": "'colcrypt, pg_cron, pg_stat_statements'",
            "cron.database_name": "'postgres'",
            "cron.use_background_workers": "on",
            "max_worker_processes": "16",
        }
        base.update(settings or {})
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# colcrypt embedded cluster\n")
            conf.writelines(f"{k} = {v}\n" for k, v in base.items())

    def init_with_local_kek(self, settings: dict[str, str] | None = None) -> Path:
        """init() plus a new KEK file in the cluster, readable only by the server, set as
        colcrypt.kek_file for server-side unwrapping; returns its path."""
        from colcrypt.providers import local

        kek_file = self.root / "kek"
        self.init({**(settings or {}), "colcrypt.kek_file": f"'{kek_file}'"})
        local.create_kek_file(kek_file)
        self.give_to_server(kek_file, 0o600)
        return kek_file

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and subprocess.run(
            self._cmd("pg_ctl", "status", "-D", str(self.data)), capture_output=True, cwd="/").returncode == 0

    def start(self) -> None:
        if not self.is_running():
            self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log_file))

    def stop(self) -> None:
        if self.is_running():
            self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def reload(self) -> None:
        self._run("pg_ctl", "reload", "-D", str(self.data))

    def dsn(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return f"host={self.root} port={self.port} user={user} dbname={dbname}"

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def throwaway(prefix: str = "colcrypt-") -> Cluster:
    return Cluster(Path(tempfile.mkdtemp(prefix=prefix)))


def embedded() -> Cluster:
    """The CLI's embedded default: one cluster under $COLCRYPT_HOME, made and started on demand.

    The default home is ~/.local/share/colcrypt, or /var/lib/colcrypt for root, whose home the
    server's account cannot enter.
    """
    default = Path("/var/lib/colcrypt") if os.geteuid() == 0 else Path.home() / ".local/share/colcrypt"
    cluster = Cluster(Path(os.environ.get("COLCRYPT_HOME") or default) / "embedded")
    if not cluster.data.exists():
        cluster.root.mkdir(parents=True, exist_ok=True)
        cluster.init(server_kek_settings(cluster))
    cluster.start()
    return cluster


def server_kek_settings(cluster: Cluster) -> dict[str, str]:
    """Give the cluster its own copy of the client's KEK, readable only by the server account."""
    from colcrypt.providers import local

    client_kek = local.default_kek_file()
    if not client_kek.exists():
        local.create_kek_file(client_kek)
    server_kek = cluster.root / "server-kek"
    shutil.copyfile(client_kek, server_kek)
    cluster.give_to_server(server_kek, 0o600)
    return {"colcrypt.kek_file": f"'{server_kek}'"}
