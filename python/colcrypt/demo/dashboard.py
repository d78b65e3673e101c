"""The demo's closing dashboard: the application's record, rows lost, overheads, time per phase."""

from colcrypt.demo.workflow import Outcome


def render(out: Outcome, total_seconds: float) -> str:
    s = out.stats
    lines = ["", "=" * 78, "colcrypt demo: dashboard", "=" * 78]
    lines.append(f"application transactions   {s.committed:>10,} committed   {s.failed:>4} failed   "
                 f"{s.wrong_reads:>4} wrong reads")
    lines.append(f"application latency        max {s.max_ms:,.0f} ms, p99 {s.p99_ms:,.1f} ms, "
                 f"{s.tps:,.0f} transactions/s")
    for error in s.errors[:3]:
        lines.append(f"  failed: {error}")
    lines.append(f"rows lost or different     {len(out.lost):>10}")
    lines.extend(f"  {problem}" for problem in out.lost[:5])
    total = sum(v[0] for v in out.validations.values())
    valid = sum(v[1] for v in out.validations.values())
    lines.append(f"rows encrypted             {total:>10,} in {len(out.validations)} tables "
                 f"({sum(out.rows.values()):,} at the start); validation: {valid:,} valid")
    worst = max(out.switches, key=lambda x: x[2], default=None)
    if worst:
        lines.append(f"longest switch             {worst[2]:>10,.0f} ms ({worst[1]} of {worst[0]}); "
                     f"{len(out.switches)} switches in all")
    lines.append("")
    lines.append("overheads against the baseline (after cleanup, same load):")
    for metric, baseline, current, change, passed in out.overheads:
        verdict = {True: "ok", False: "OVER THRESHOLD", None: "informational"}[passed]
        change_text = "" if change is None else f"{change:+.1f}%"
        lines.append(f"  {metric:<28} {_num(baseline):>12} -> {_num(current):>12}  {change_text:>8}  {verdict}")
    lines.append("")
    lines.append("time per phase:")
    for title, took in out.phase_times:
        lines.append(f"  {took:7.1f} s  {title}")
    lines.append(f"  {total_seconds:7.1f} s  in all")
    events, head, problem = out.audit
    lines.append("")
    lines.append(f"event log                  {events} events, hash chain "
                 f"{'BROKEN: ' + problem if problem else 'intact'} (head event {head})")
    lines.append("report                     " + "  ".join(str(p) for p in out.reports))
    lines.append("=" * 78)
    return "\n".join(lines)


def _num(value) -> str:
    return "-" if value is None else f"{value:,.2f}"


def passed(out: Outcome) -> bool:
    s = out.stats
    return (s is not None and s.failed == 0 and s.wrong_reads == 0 and not out.lost
            and all(v[2] for v in out.validations.values()) and out.audit and out.audit[2] is None)
