"""The end-to-end benchmark's figures: the issue's bars, and its section of docs/benchmarks.md.

:func:`bars` prints the PASS/FAIL lines (never asserted, never tuned), :func:`write`
replaces the section :data:`HEADING` of docs/benchmarks.md and keeps every other one.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import docs_sections
import e2e_gangs
from docs_sections import bar
from e2e_batches import Batch, median, percentile
from netsched.domain.cost import Cost
from netsched.domain.topology import ClusterSnapshot

HEADING = "# Operator end to end (bench/e2e.py)"
ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20
GB = 1e9
BAR_THROUGHPUT = 0.5
AIM_THROUGHPUT = 0.8
BAR_P95_SECONDS = 5.0
BAR_RSS_MIB = 400
BAR_RSS_NODES = 5000
BAR_CROSS_TIER = 0.5


@dataclass
class Quality:
    """Both placements of the same gangs, priced by the one cost model (each gang alone).

    Attributes:
        agree: netsched gangs whose price here equals the one in their status.
    """

    gangs: list[e2e_gangs.Gang]
    kube: list[Cost]
    netsched: list[Cost]
    kube_shared: list[Cost]
    netsched_shared: list[Cost]
    agree: int

    @classmethod
    def priced(cls, *, kube: Batch, netsched: Batch, snapshot: ClusterSnapshot) -> Quality:
        gangs = kube.gangs
        theirs = [e2e_gangs.cost(g, kube.order(g), snapshot) for g in gangs]
        ours = [e2e_gangs.cost(g, netsched.order(g), snapshot) for g in gangs]
        agree = 0
        for gang, price in zip(gangs, ours, strict=True):
            status = netsched.jobs[gang.name]["status"]["placement"]
            recorded = float(status.get("predictedCommSecondsPerStep", -1.0))
            agree += abs(recorded - price.comm_seconds) <= 1e-9 + 1e-6 * price.comm_seconds
        return cls(
            gangs,
            theirs,
            ours,
            e2e_gangs.cost_shared(gangs, [kube.order(g) for g in gangs], snapshot),
            e2e_gangs.cost_shared(gangs, [netsched.order(g) for g in gangs], snapshot),
            agree,
        )


@dataclass
class Throughput:
    gangs: int
    pods: int
    rounds: list[tuple[Batch, Batch]] = field(default_factory=list)
    alone: list[Batch] = field(default_factory=list)
    paced: list[tuple[Batch, Batch]] = field(default_factory=list)
    """(kube-scheduler alone, netsched) per round of the same gangs sent one every
    :attr:`paced_every` seconds."""
    paced_every: float = 0.0

    def ratios(self) -> list[float]:
        return [ours.pods_per_second / kube.pods_per_second for kube, ours in self.rounds]

    def cpu_ratio_note(self) -> str:
        """The same comparison by CPU: kube-scheduler alone's CPU seconds per batch over
        netsched's (medians; a steadier figure on a shared machine), or nothing unmeasured."""
        kube = median([sum(k.cpu.values()) for k, _ in self.rounds])
        ours = median([sum(n.cpu.values()) for _, n in self.rounds])
        if not kube or not ours:
            return ""
        return f"; by CPU seconds per batch, kube-scheduler alone / netsched = {kube / ours:.2f}"

    def p95s(self, which: int, *, paced: bool = False) -> list[float]:
        pairs = self.paced if paced else self.rounds
        return [percentile(pair[which].latencies(), 0.95) for pair in pairs]


@dataclass(frozen=True, slots=True)
class ScalePoint:
    """The operator at one cluster size, after a batch of gangs holding about half its GPUs."""

    nodes: int
    gangs: int
    pods: int
    sync: float
    idle_rss: float
    rss: float
    peak_rss: float
    idle_cpu: float
    cpu: float
    decisions: int
    decision_mean: float
    decision_p95: float
    decision_p95_bound: float
    span: float


@dataclass
class Results:
    nodes: int
    kubernetes: str = "?"
    quality: Quality | None = None
    throughput: Throughput | None = None
    scale: list[ScalePoint] = field(default_factory=list)
    seconds: float = 0.0


# --- bars --------------------------------------------------------------------------------------


def bars(results: Results) -> list[str]:
    lines = []
    if results.throughput is not None and results.throughput.rounds:
        t = results.throughput
        ratios = t.ratios()
        ratio = median(ratios)
        each = ", ".join(f"{r:.2f}" for r in ratios)
        lines.append(
            bar(
                ratio >= BAR_THROUGHPUT,
                f"throughput: netsched {median([n.pods_per_second for _, n in t.rounds]):.1f} "
                f"pods/s vs kube-scheduler alone "
                f"{median([k.pods_per_second for k, _ in t.rounds]):.1f}: ratio {ratio:.2f} "
                f">= {BAR_THROUGHPUT} (median of {len(ratios)} paired rounds: {each}; "
                f"aim {AIM_THROUGHPUT}){t.cpu_ratio_note()}",
            )
        )
        p95 = median(t.p95s(1))
        lines.append(
            bar(
                p95 <= BAR_P95_SECONDS,
                f"latency: p95 create-to-all-bound {p95:.2f} s <= {BAR_P95_SECONDS:.0f} s for "
                f"{t.pods}-pod gangs with free capacity ({t.gangs} gangs at once on "
                f"{results.nodes} nodes, median of the rounds' p95: "
                f"{', '.join(f'{v:.2f}' for v in t.p95s(1))} s)",
            )
        )
    big = [p for p in results.scale if p.nodes >= BAR_RSS_NODES]
    if big:
        point = big[0]
        worst = max(point.rss, point.peak_rss)
        lines.append(
            bar(
                worst <= BAR_RSS_MIB * MIB,
                f"memory: operator RSS {point.rss / MIB:.0f} MiB with {point.pods} pods, peak "
                f"{point.peak_rss / MIB:.0f} MiB <= {BAR_RSS_MIB} MiB at {point.nodes} nodes",
            )
        )
    if results.quality is not None:
        q = results.quality
        ours = sum(map(e2e_gangs.cross_tier_bytes, q.netsched))
        theirs = sum(map(e2e_gangs.cross_tier_bytes, q.kube))
        lines.append(
            bar(
                ours <= BAR_CROSS_TIER * theirs,
                f"quality: cross-tier bytes (leaf + spine uplinks) {ours / GB:.1f} GB/step <= "
                f"{BAR_CROSS_TIER} x kube-scheduler alone's {theirs / GB:.1f} GB/step "
                f"(ratio {ours / theirs:.3f}; {len(q.gangs)} gangs)",
            )
        )
    return lines


def summary(results: Results) -> list[str]:
    """The report's tables, for the terminal too."""
    lines: list[str] = []
    if results.quality is not None:
        lines += quality_tables(results.quality)
    if results.throughput is not None:
        lines += throughput_tables(results.throughput)
    if results.scale:
        lines += scale_table(results.scale)
    return lines


# --- tables ------------------------------------------------------------------------------------


def _mean_ms(costs: list[Cost]) -> float:
    return 1e3 * sum(c.comm_seconds for c in costs) / len(costs)


def quality_tables(q: Quality) -> list[str]:
    rows = [
        "| scheduler | host NIC GB/step | leaf uplinks GB/step | spine uplinks GB/step "
        "| cross-tier (leaf + spine) GB/step | vs kube-scheduler "
        "| mean comm/step alone (ms) | mean comm/step, links shared (ms) "
        "| gangs in one leaf / one spine / several spines |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    base = sum(map(e2e_gangs.cross_tier_bytes, q.kube))
    both = (
        ("kube-scheduler alone", q.kube, q.kube_shared),
        ("netsched", q.netsched, q.netsched_shared),
    )
    for name, costs, shared in both:
        tiers = {
            t: sum(c.cross_tier_bytes.get(t, 0.0) for c in costs) / GB
            for t in ("host", "leaf", "spine")
        }
        cross = sum(map(e2e_gangs.cross_tier_bytes, costs))
        spans = Counter(c.tier_spanned for c in costs)
        rows.append(
            f"| {name} | {tiers['host']:.1f} | {tiers['leaf']:.1f} | {tiers['spine']:.1f} "
            f"| {cross / GB:.1f} | {cross / base:.3f} | {_mean_ms(costs):.2f} "
            f"| {_mean_ms(shared):.2f} "
            f"| {spans['leaf'] + spans['host']} / {spans['spine']} / {spans['core']} |"
        )
    patterns = sorted({g.pattern for g in q.gangs})
    by_pattern = [
        "| scheduler, pricing | " + " | ".join(patterns) + " |",
        "|---|" + "---:|" * len(patterns),
        "| *gangs* | "
        + " | ".join(str(sum(g.pattern == p for g in q.gangs)) for p in patterns)
        + " |",
    ]
    for name, costs, shared in both:
        for pricing, priced in (("alone", costs), ("links shared", shared)):
            pairs = list(zip(q.gangs, priced, strict=True))
            cells = [f"{_mean_ms([c for g, c in pairs if g.pattern == p]):.2f}" for p in patterns]
            by_pattern.append(f"| {name}, {pricing} | " + " | ".join(cells) + " |")
    sizes = Counter(g.pods for g in q.gangs)
    mix = ", ".join(f"{n} of {s} pods" for s, n in sorted(sizes.items()))
    return [
        f"{len(q.gangs)} gangs ({mix}; {sum(g.pods for g in q.gangs)} pods of 8 GPUs, the "
        "five patterns), sent one by one in the same order to each; bytes summed over the "
        "gangs. *Alone*: each gang priced on the idle fabric, the model the bar and the "
        "operator use. *Links shared*: each gang priced while the batch's other gangs run, an "
        "uplink's share being its bandwidth / (1 + other gangs crossing it).",
        "",
        *rows,
        "",
        "Mean predicted comm/step by pattern (ms):",
        "",
        *by_pattern,
        "",
        f"The operator's own status (predictedCommSecondsPerStep) agrees with this pricing of "
        f"its placements for {q.agree}/{len(q.gangs)} gangs.",
        "",
    ]


def throughput_tables(t: Throughput) -> list[str]:
    rows = [
        "| round | kube-scheduler alone pods/s | netsched pods/s | netsched / kube-scheduler "
        "| kube-scheduler p50 / p95 (s) | netsched p50 / p95 (s) "
        "| kube-scheduler: last pod created / bound (s) "
        "| netsched: last pod created / pinned / bound (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for index, (kube, ours) in enumerate(t.rounds, start=1):
        created, _, bound = kube.stages()
        stages = " / ".join(f"{s:.1f}" for s in ours.stages())
        rows.append(
            f"| {index} | {kube.pods_per_second:.1f} | {ours.pods_per_second:.1f} "
            f"| {ours.pods_per_second / kube.pods_per_second:.2f} "
            f"| {_p50_p95(kube)} | {_p50_p95(ours)} | {created:.1f} / {bound:.1f} | {stages} |"
        )
    lines = [
        f"{t.gangs} gangs x {t.pods} pods of 8 GPUs, submitted at once; rounds alternate "
        "kube-scheduler alone and netsched on the empty cluster:",
        "",
        *rows,
        "",
    ]
    lines += cpu_table(t) + PROFILE
    if t.alone:
        solo = [b.latencies()[0] for b in t.alone]
        lines += [
            f"One {t.pods}-pod gang at a time on the idle operator (each sent once the last "
            f"was bound): create-to-all-bound {', '.join(f'{s:.2f}' for s in solo)} s "
            f"(median {median(solo):.2f} s).",
            "",
        ]
    return lines + paced_table(t)


def paced_table(t: Throughput) -> list[str]:
    """The paced rounds: the same gangs as a steady stream (not the bar's reading)."""
    if not t.paced:
        return []
    rate = 1 / t.paced_every
    rows = [
        "| round | scheduler | create-to-all-bound p50 / p95 / max (s) | pods/s over the batch |",
        "|---|---|---:|---:|",
    ]
    for index, pair in enumerate(t.paced, start=1):
        for name, batch in zip(("kube-scheduler alone", "netsched"), pair, strict=True):
            waits = batch.latencies()
            rows.append(
                f"| {index} | {name} | {percentile(waits, 0.5):.2f} / "
                f"{percentile(waits, 0.95):.2f} / {max(waits):.2f} "
                f"| {batch.pods_per_second:.1f} |"
            )
    return [
        f"The same {t.gangs} gangs as a steady stream, one every {t.paced_every:.2f} s "
        f"({rate:g} gangs, {rate * t.pods:g} pods a second: below what either scheduler "
        "binds in the batches above), each round to kube-scheduler alone and then to "
        "netsched on the empty cluster. This is not the bar's reading (its gangs arrive at "
        "once); it is the latency a gang sees when the cluster keeps up with its arrivals:",
        "",
        *rows,
        "",
    ]


def cpu_table(t: Throughput) -> list[str]:
    """CPU seconds each process spent on a batch, median of the rounds, per scheduler."""
    batches = {
        "kube-scheduler alone": [kube for kube, _ in t.rounds],
        "netsched": [ours for _, ours in t.rounds],
    }
    names = sorted({name for runs in batches.values() for b in runs for name in b.cpu})
    if not names:
        return []
    rows = [
        f"| scheduler | {' | '.join(names)} | all | CPU ms per pod |",
        "|---|" + "---:|" * (len(names) + 2),
    ]
    for label, runs in batches.items():
        cells = [median([b.cpu.get(name, 0.0) for b in runs]) for name in names]
        total = median([sum(b.cpu.values()) for b in runs])
        rows.append(
            f"| {label} | {' | '.join(f'{c:.1f}' for c in cells)} | {total:.1f} "
            f"| {1e3 * total / (t.gangs * t.pods):.1f} |"
        )
    return [
        "CPU seconds each process spent on a batch (from `/proc/PID/stat`, first send to last "
        "bind; median of the rounds; the operator runs only in netsched's batches):",
        "",
        *rows,
        "",
    ]


def _p50_p95(batch: Batch) -> str:
    values = batch.latencies()
    return f"{percentile(values, 0.5):.2f} / {percentile(values, 0.95):.2f}"


def scale_table(points: list[ScalePoint]) -> list[str]:
    rows = [
        "| nodes | gangs | pods | cache filled in (s) | RSS idle (MiB) | RSS with the pods (MiB) "
        "| peak RSS (MiB) | CPU s: start-up / batch | decisions | decision mean (ms) "
        "| decision p95 (ms; bucket) | all bound in (s) | pods/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        rows.append(
            f"| {p.nodes} | {p.gangs} | {p.pods} | {p.sync:.1f} | {p.idle_rss / MIB:.0f} "
            f"| {p.rss / MIB:.0f} "
            f"| {p.peak_rss / MIB:.0f} | {p.idle_cpu:.1f} / {p.cpu - p.idle_cpu:.1f} "
            f"| {p.decisions} | {p.decision_mean * 1e3:.1f} "
            f"| {p.decision_p95 * 1e3:.1f} (<= {p.decision_p95_bound * 1e3:g}) "
            f"| {p.span:.1f} | {p.pods / p.span:.1f} |"
        )
    return [
        "Gangs of the quality part's mix asking for about half the GPUs, submitted at once to "
        "a freshly started operator:",
        "",
        *rows,
        "",
    ]


# --- the section -------------------------------------------------------------------------------


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    head = git("rev-parse", "--short", "HEAD").strip()
    changed = git("status", "--porcelain", "--", "operator", "bench").splitlines()
    dirty = [line[3:] for line in changed if line.strip()]  # "XY path": the path from column 3
    return f"{head} + uncommitted changes to {', '.join(dirty)}" if dirty else head


def section(results: Results, bar_lines: list[str], *, command: str) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            HEADING,
            "",
            f"Command: `{command}`  ",
            f"Date: {now} (date -u), {results.seconds / 60:.1f} min  ",
            f"Machine: {docs_sections.machine(memory=True)}; the cluster, the operator and "
            "the benchmark share its cores, so absolute times are noisy and the throughput "
            "ratios are paired within a round  ",
            f"Commit: {commit()}  ",
            f"Cluster: `netsched.devcluster`, real kube-apiserver, kube-controller-manager and "
            f"kube-scheduler {results.kubernetes} (client QPS 200), etcd, KWOK; fake 8-GPU "
            "nodes in a leaf/spine fat tree (8 hosts a leaf, 4 leaves a spine); the operator "
            "is `netsched run`, a separate process",
            "",
            "## The issue's bars",
            "",
            "```",
            *bar_lines,
            "```",
            "",
            *findings(results, bar_lines),
            "## Quality: kube-scheduler alone against netsched",
            "",
            *(quality_tables(results.quality) if results.quality else []),
            "## Throughput and latency",
            "",
            *(throughput_tables(results.throughput) if results.throughput else []),
            "## Scale",
            "",
            *scale_table(results.scale),
            "## How it is measured",
            "",
            *METHOD,
        ]
    )


def write(path: Path, results: Results, bar_lines: list[str], *, command: str) -> None:
    docs_sections.replace(path, HEADING, section(results, bar_lines, command=command))


def findings(results: Results, bar_lines: list[str]) -> list[str]:
    """What profiling found behind each missed bar (written by hand), for those missed, and
    behind the throughput while it is short of the aim."""
    explained = {line.split()[1].rstrip(":") for line in bar_lines if line.startswith("FAIL")}
    t = results.throughput
    if t and median(t.ratios()) < AIM_THROUGHPUT:
        explained.add("throughput")
    spans = ", ".join(f"{kube.span_seconds:.1f}" for kube, _ in (t.rounds if t else [])) or "?"
    solo = f"{median([b.latencies()[0] for b in t.alone]):.2f}" if t and t.alone else "?"
    kube_cpu = median([sum(k.cpu.values()) for k, _ in t.rounds]) if t and t.rounds else 0.0
    ours_cpu = median([sum(n.cpu.values()) for _, n in t.rounds]) if t and t.rounds else 0.0
    figures = {
        "kube_spans": spans,
        "solo": solo,
        "cpu_times": f"{ours_cpu / kube_cpu:.1f}" if kube_cpu and ours_cpu else "?",
        "kube_p95": f"{median(t.p95s(0)):.2f}" if t and t.rounds else "?",
    }
    lines = []
    for topic, text in CAUSES.items():
        if topic in explained:
            lines += [text.format(**figures, paced=_paced_note(t)), ""]
    return lines


def _paced_note(t: Throughput | None) -> str:
    """The paced rounds' p95, for the latency finding ("" when there were none)."""
    if t is None or not t.paced:
        return ""
    ours, kube = median(t.p95s(1, paced=True)), median(t.p95s(0, paced=True))
    verdict = (
        "so what misses the bar is the burst, not one gang's path through the operator"
        if ours <= BAR_P95_SECONDS
        else f"so netsched misses {BAR_P95_SECONDS:.0f} s even when the cluster keeps up"
    )
    return (
        f" Sent as a steady stream instead ({1 / t.paced_every:g} gangs a second, the paced "
        f"table), netsched's gangs bind in a p95 of {ours:.2f} s and kube-scheduler alone's "
        f"in {kube:.2f} s (medians of the rounds), {verdict}."
    )


CAUSES = {
    "throughput": (
        "**Why netsched's pods/s trails kube-scheduler's** (short of the aim, "
        f"{AIM_THROUGHPUT}x, whether or not it passes the bar). The machine is CPU-bound (a "
        "batch saturates both cores), and netsched's flow costs the cluster {cpu_times} times "
        "the CPU per pod: see the CPU table under *Throughput and latency* and the profile "
        "beneath it. The ratio of pods/s follows the ratio of CPU seconds per batch, moved "
        "round by round by the shared machine: a median near the bar passes or fails by "
        "that draw, not by a change in netsched."
    ),
    "latency": (
        "**Why the p95 create-to-all-bound misses 5 s.** The machine's CPU bound, seen per "
        "gang. "
        "The 100 TrainingJobs arrive within half a second, so a gang's latency includes the "
        "pods of every gang ahead of it: the operator creates all gangs' pods, then places "
        "and pins them in queue order (the last pod created / pinned / bound column), so "
        "the 95th gang binds close to the end of the batch, while one gang on its own binds "
        "in {solo} s (the line under the table). kube-scheduler alone's gangs "
        "are timed from their own first pod, sent while the batch is still being created, "
        "so its p95 is {kube_p95} s (median of the rounds); but its batches of the same pods took "
        "{kube_spans} s from first send to last bind. A batch whose jobs all arrive at once "
        "cannot bind its 95th gang within 5 s unless netsched creates, pins and binds the "
        "pods about as fast as kube-scheduler alone creates and binds them.{paced}"
    ),
}

PROFILE = [
    "**Where the CPU goes** (profiled on 2026-12-02, one batch of each kind, separately "
    "from this run: the API server's own `/debug/pprof/profile`, enabled for the "
    "profile, and `py-spy record` on the operator). kube-apiserver's time is per write: "
    "in a kube-scheduler-alone batch a quarter of its samples are the strategic-merge "
    "patches of pod status (KWOK setting pods Running) and a sixth the managed-fields "
    "bookkeeping every update pays. A netsched batch adds the pins (JSON merge patches "
    "of pods, 8.5 % of its samples), the TrainingJob status writes (custom resources, "
    "9 %: about 4 ms each, against 1.5 ms for a pod status write) and the headless "
    "Service's EndpointSlices (2 %); the controller-manager's extra is the endpoints "
    "and EndpointSlice controllers and the garbage collector following owned pods. In "
    "the operator, kopf's dispatch of watch events takes 23 % of the samples, decoding "
    "them (json) 13 %, the worker's cycles 21 % (placement itself 7 %) and its API "
    "client 12 %. Two fixes came out of this profile: the kopf handlers are `async` "
    "(kopf ran each plain function in a thread of its executor, three hops per pod "
    "event), and the fabric is reused when a node's heartbeat brings a row equal to "
    "the last (on 1000 nodes one came every second or so, and each rebuilt the fabric: "
    "5 % of the operator's samples). What is left is the issue's flow itself: a gated "
    "create and a pin per pod, and per gang a Service, a NetworkPolicy, two status "
    "writes and two Events. Counted by the API server (`apiserver_request_total` before "
    "and after one batch of each, 2026-12-02): kube-scheduler alone's batch made 3232 "
    "requests (800 pod creates, 800 binds, 826 pod status patches, 806 Events); "
    "netsched's 5582, the same plus 800 pins, 857 Endpoints and EndpointSlice writes for "
    "the headless Services (a gang's pods get their addresses one by one), 300 "
    "TrainingJob writes (the create and two status patches), 208 Events, 100 Services "
    "and 100 NetworkPolicies.",
    "",
]


METHOD = [
    "- **One cluster, empty before each batch.** Every batch runs in a namespace of its own "
    "and is deleted (pods at once, no grace period) before the next starts. kube-scheduler "
    "batches run without the operator; each netsched batch starts a fresh operator and "
    "waits for its first cycle.",
    "- **kube-scheduler alone** gets the very pods netsched would create: the same template "
    "(one container, `nvidia.com/gpu: 8`), no scheduling gate, no nodeSelector, no Service, "
    "labelled by gang. Its default profile spreads them (plain pods: no default topology "
    "spread; NodeResourcesFit LeastAllocated and the rotating node sample decide).",
    "- **Placements** are read from the API once every pod is bound (`spec.nodeName`); "
    "netsched's rank order is its pods' rank, kube-scheduler's its pods' index. Both are "
    "priced by `netsched.domain.cost.predict` on a snapshot of the live nodes with every "
    "GPU free: each gang costed alone, as DESIGN.md's cost model does. *Cross-tier bytes* "
    "sum `crossTierBytesPerStep` over the tiers above the host (leaf and spine uplinks).",
    "- **Times** are this machine's clock: a gang's objects (its TrainingJob, or its first "
    "pod) when sent, its pods when a watch first sees them bound. Object timestamps have "
    "one-second resolution, too coarse here. *pods/s* = pods / (last bind - first send); "
    "*create-to-all-bound* = a gang's last bind - its send. Batches sent at once use 4 "
    "concurrent creates (more were slower on 2 cores); the quality batches go one by one, in "
    "order; the paced batches send a gang's objects (its TrainingJob, or its plain pods one "
    "after another) at each tick of a steady clock.",
    "- **Memory and CPU** come from the operator's own /metrics "
    "(`process_resident_memory_bytes`, `process_cpu_seconds_total`) once its batch is "
    "Running, peak RSS from `/proc/PID/status` VmHWM; *decision p95* interpolates the "
    "`netsched_placement_decision_seconds` histogram as Prometheus' `histogram_quantile` "
    "does, beside the bucket bound that holds it. The throughput part's CPU seconds per "
    "process are `/proc/PID/stat` user + system time, read before the batch's first send "
    "and after its last bind, for every control-plane process, the operator and the "
    "benchmark's own client.",
    "",
]
