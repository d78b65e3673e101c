"""`colcrypt demo` / `make demo`: the whole workflow on a throwaway cluster under a live application load.

A sample legacy database (colcrypt.demo.sample) is migrated table by table, from discovery to cleanup, while
the application (colcrypt.demo.load) writes and reads through the tables' names; the dashboard shows its
failed transactions, the rows lost, the overheads against the baseline and the time per phase. Ctrl-C
stops the application and removes the cluster: nothing is left half-done, and the next run starts clean.
"""

import sys
import time

from colcrypt.cluster import throwaway
from colcrypt.demo.workflow import Options, Outcome, run_workflow


def run(options: Options | None = None) -> int:
    """0 when the application lost nothing and saw no failure, 3 otherwise; 130 when interrupted."""
    from colcrypt.demo.dashboard import passed, render

    options = options or Options()
    started = time.monotonic()
    cluster = throwaway("colcrypt-demo-")
    out, loads, keep = Outcome(), [], False
    try:
        run_workflow(cluster, options, out, loads)
        print(render(out, time.monotonic() - started))
        keep = options.keep
        if keep:
            stop = cluster.shell_command("pg_ctl", "stop", "-D", str(cluster.data))
            print(f"\nthe cluster is still running: colcrypt report --dsn '{cluster.dsn('demo')}'\n"
                  f"when done: {stop} && rm -rf {cluster.root}")
        return 0 if passed(out) else 3
    except KeyboardInterrupt:
        print("\ndemo interrupted: stopping the application and removing the throwaway cluster; "
              "run it again to start clean", file=sys.stderr)
        return 130
    finally:
        for load in loads:
            load.stop()
        if not keep:
            cluster.destroy()
            print(f"demo finished in {time.monotonic() - started:.1f} s; the throwaway cluster is gone")
