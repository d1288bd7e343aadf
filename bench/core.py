"""What every measurement shares: results, percentiles, per-phase peak memory, the machine, output.

A result's ``ratio`` reads the same way for every unit: how many times the baseline's cost ours
is. For times and query counts that is ``value / baseline``; for rates (``/s``) it is
``baseline / value``. Above 1 means ours costs more than the baseline.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HIGHER_IS_BETTER = {"/s"}


@dataclass
class Result:
    name: str
    value: float | None
    unit: str
    baseline: float | None = None
    target: str | None = None  # "<= 50", "< 1", "< baseline"; None when the issue sets none
    note: str = ""
    baseline_label: str = ""
    ratio: float | None = field(default=None, init=False)
    met: bool | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.value is not None and self.baseline:
            if self.unit in HIGHER_IS_BETTER:
                self.ratio = round(self.baseline / self.value, 2) if self.value else None
            else:
                self.ratio = round(self.value / self.baseline, 2)
        self.met = self._met()

    def _met(self) -> bool | None:
        if self.target is None:
            return None
        if self.value is None:
            return False
        op, _, bound = self.target.partition(" ")
        limit = self.baseline if bound == "baseline" else float(bound)
        if limit is None:
            return False
        return {"<=": self.value <= limit, "<": self.value < limit, ">=": self.value >= limit, ">": self.value > limit}[
            op
        ]

    def as_dict(self) -> dict:
        data = asdict(self)
        for key in ("value", "baseline"):
            if isinstance(data[key], float):
                data[key] = round(data[key], 4)
        if not data["note"]:
            data.pop("note")
        if not data["baseline_label"]:
            data.pop("baseline_label")
        return data


def missing(name: str, unit: str, what: str, *, target: str | None = None) -> Result:
    """A measurement whose code is not in this tree yet: recorded, never faked."""
    return Result(name, None, unit, target=target, note=f"{what} not available")


# --------------------------------------------------------------------------- timing


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile (p50 of 4 samples is the 2nd smallest)."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil
    return ordered[int(rank) - 1]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


# --------------------------------------------------------------------------- bounded runs


@dataclass
class Bounded:
    """What a bounded child reported: its messages by kind, and whether it was stopped at the limit."""

    values: dict = field(default_factory=dict)
    stopped: bool = False
    stopped_after: float = 0.0  # seconds since the child's last "start" when it was stopped


def run_bounded(target: Callable, args: tuple, *, limit: float, setup_limit: float = 900.0) -> Bounded:
    """Run ``target(pipe, *args)`` in a forked process, stopping it ``limit`` seconds after each "start".

    The child sends ``(kind, value)`` pairs: ``("pid", backend pid)`` first, ``("start", None)``
    before each timed step (the limit counts from there), any results, then ``("done", None)``;
    ``("error", text)`` fails the phase. A child past the limit is killed and its database session
    terminated, so its open transaction rolls back and the next phase sees the store as it was.
    """
    from django.db import connection, connections

    connections.close_all()  # the child must not share this process's database socket
    mp = multiprocessing.get_context("fork")
    receiver, sender = mp.Pipe(duplex=False)
    child = mp.Process(target=target, args=(sender, *args), daemon=True)
    child.start()
    sender.close()
    out = Bounded()
    deadline, started = time.monotonic() + setup_limit, time.monotonic()
    try:
        while True:
            if not receiver.poll(max(0.0, deadline - time.monotonic())):
                if "start" not in out.values:
                    raise RuntimeError(f"the child took more than {setup_limit:.0f}s to get ready")
                out.stopped, out.stopped_after = True, time.monotonic() - started
                break
            try:
                kind, value = receiver.recv()
            except EOFError:
                raise RuntimeError(f"the child process ended with {child.exitcode}") from None
            if kind == "error":
                raise RuntimeError(value)
            if kind == "done":
                child.join()
                return out
            if kind == "start":
                started, deadline = time.monotonic(), time.monotonic() + limit
            out.values[kind] = value
        child.kill()
        child.join()
        backend = out.values.get("pid")
        if backend:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
                for _ in range(60):  # let the server drop the session before the next phase
                    cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend])
                    if cursor.fetchone() is None:
                        break
                    time.sleep(0.5)
        return out
    finally:
        if child.is_alive():
            child.kill()
            child.join()


def child_reports(pipe, body: Callable[[Callable], None]) -> None:
    """The child's side of ``run_bounded``: its backend pid first, ``body(send)``, then done or the error."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pipe.send(("pid", cursor.fetchone()[0]))
        body(pipe.send)
        pipe.send(("done", None))
    except Exception as exc:
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


@contextmanager
def profiled(enabled: bool, label: str, log_dir: Path | None = None) -> Iterator[None]:
    """Run the block under cProfile when ``enabled`` and print its top functions (for phases in a child)."""
    if not enabled:
        yield
        return
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
        if log_dir is not None:
            profiler.dump_stats(log_dir / f"{label}.prof")
        print(f"\n--- cProfile of {label}, top functions by cumulative time ---\n{out.getvalue()}", flush=True)


def peak_rss_mb() -> float | None:
    """This process's peak resident set so far (VmHWM), in MB."""
    kb = _status_kb("VmHWM")
    return round(kb / 1024, 1) if kb else None


# --------------------------------------------------------------------------- memory

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _status_kb(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Linux resets the peak resident set (VmHWM) to the current one on '5' > clear_refs."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


@dataclass
class PhaseMemory:
    phase: str
    peak_mb: float = 0.0
    start_mb: float = 0.0
    method: str = ""


@contextmanager
def phase_memory(phase: str, sink: list[PhaseMemory]) -> Iterator[PhaseMemory]:
    """The bench process's peak resident memory during the phase.

    VmHWM reset at the phase's start when Linux allows it (the phase's own peak); otherwise the
    growth of ``getrusage`` maxrss (a high-water mark over the whole run, so 0 when the phase
    stayed below an earlier peak). Child processes (the web server, the worker) are not counted.
    """
    record = PhaseMemory(phase)
    start_kb = _status_kb("VmRSS")
    if start_kb is not None and _reset_peak():
        record.method = "VmHWM"
        record.start_mb = start_kb / 1024
        try:
            yield record
        finally:
            record.peak_mb = (_status_kb("VmHWM") or 0) / 1024
            sink.append(record)
        return
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    record.method = "maxrss-delta"
    record.start_mb = before / 1024
    try:
        yield record
    finally:
        record.peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        sink.append(record)


def memory_results(phases: list[PhaseMemory]) -> list[Result]:
    out = []
    for p in phases:
        if p.method == "VmHWM":
            note = (
                f"peak RSS of the bench process in this phase (VmHWM reset at its start; {p.start_mb:.0f} MB at start)"
            )
        else:
            note = "growth of the process's maxrss during this phase (getrusage; 0 = below an earlier peak)"
        out.append(Result(f"memory_{p.phase}_peak_mb", round(p.peak_mb, 1), "MB", note=note))
    return out


# --------------------------------------------------------------------------- the machine


def machine(postgres_version: str) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "postgres": postgres_version,
        "os": f"{platform.system()} {platform.release()}",
        "date": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "load_average_at_start": load,
    }


# --------------------------------------------------------------------------- output


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3f}"
    return str(value)


def table(results: list[Result]) -> str:
    header = ["measurement", "value", "unit", "baseline", "ratio", "target", "met"]
    rows = [
        [r.name, _fmt(r.value), r.unit, _fmt(r.baseline), _fmt(r.ratio), r.target or "-", _fmt(r.met)] for r in results
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        lines.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def write_results(path: Path, machine_info: dict, results: list[Result], meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine_info, "run": meta, "results": [r.as_dict() for r in results]}
    path.write_text(json.dumps(payload, indent=2) + "\n")


# --------------------------------------------------------------------------- what measurements get


@dataclass
class Context:
    """The run's settings, shared by every measurement."""

    orders: int
    quick: bool
    child_env: dict[str, str]
    log_dir: Path
    queue_query: str
    products: int = 0
    csv_budget: float = 60.0
    intake_budget: float = 45.0
    allocation_limit: float = 45.0
    sweep_limit: float = 120.0
    profile: str = ""  # the phase run under cProfile (a phase in a child process profiles itself)
    notes: dict[str, str] = field(default_factory=dict)

    def n(self, full: int, quick: int) -> int:
        """A sample size: ``full`` normally, ``quick`` with --quick."""
        return quick if self.quick else full
