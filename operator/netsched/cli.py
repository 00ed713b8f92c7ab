"""The ``netsched`` command line (also installed as the kubectl plugin ``kubectl-netsched``).

Each command is a thin face over a module that does the work; no logic lives here.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

app = typer.Typer(
    name="netsched",
    help="Network-aware gang scheduling of distributed AI training on Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
)


# --- dev-cluster: a real local control plane with fake GPU nodes -----------------------------

dev_cluster = typer.Typer(
    help="A real local control plane (etcd, kube-apiserver, "
    "controller-manager, scheduler, KWOK) with fake GPU nodes.",
    no_args_is_help=True,
)
app.add_typer(dev_cluster, name="dev-cluster")


class TopologyChoice(StrEnum):
    LEAF_SPINE = "leaf-spine"
    LINGJUN = "lingjun"


def _fail(error: Exception) -> NoReturn:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(code=1)


@dev_cluster.command("build")
def dev_cluster_build(
    real_nodes: Annotated[
        bool,
        typer.Option(
            help="Also build what real nodes run: kubelet, kube-proxy, CoreDNS, kube-router."
        ),
    ] = False,
    tools: Annotated[
        bool, typer.Option(help="Also build the install path's tools: helm, Prometheus, promtool.")
    ] = False,
    images: Annotated[
        bool,
        typer.Option(
            help="Also build the real nodes' container images (OCI archives that `ctr images "
            "import` and `kind load image-archive` read); implies --real-nodes."
        ),
    ] = False,
) -> None:
    """Build (or find cached) every control-plane binary."""
    from netsched.devcluster import ComponentError, binaries
    from netsched.devcluster import images as container_images

    components = binaries.COMPONENTS
    if real_nodes or images:
        components += binaries.REAL_NODE_COMPONENTS
    if tools:
        components += binaries.TOOL_COMPONENTS
    try:
        built = binaries.ensure_all(components, announce=True)
        for name, path in built.items():
            typer.echo(f"{name:<24} {path}")
        if images:
            for name, archive in container_images.build_all(built["coredns"]).items():
                typer.echo(f"{name:<24} {archive}")
    except ComponentError as error:
        _fail(error)


@dev_cluster.command("up")
def dev_cluster_up(
    nodes: Annotated[int, typer.Option(help="Fake GPU nodes in a leaf/spine fat tree.")] = 64,
    topology: Annotated[
        TopologyChoice, typer.Option(help="leaf-spine (parametric) or lingjun (847 real hosts).")
    ] = TopologyChoice.LEAF_SPINE,
    gpus_per_node: Annotated[int, typer.Option(help="nvidia.com/gpu per node.")] = 8,
    run_dir: Annotated[Path | None, typer.Option(help="Where the cluster's files go.")] = None,
    apiserver_port: Annotated[
        int | None, typer.Option(help="Pin the API server's port (default: a free one).")
    ] = None,
    operator: Annotated[
        bool, typer.Option("--operator", help="Also install the CRDs and run the operator.")
    ] = False,
    real_nodes: Annotated[
        int,
        typer.Option(
            help="Real kubelet nodes beside the fake ones (root; see docs/development.md)."
        ),
    ] = 0,
    degrade: Annotated[
        list[str] | None,
        typer.Option(help="Slow one real leaf's uplink: LEAF=RATE, e.g. 1=50mbit (repeatable)."),
    ] = None,
) -> None:
    """Start the dev cluster (or reuse a running one) and create its nodes."""
    from netsched import devcluster
    from netsched.devcluster.fabric import parse_degrade

    try:
        degraded = parse_degrade(degrade or [])
        infos = (
            devcluster.lingjun()
            if topology is TopologyChoice.LINGJUN
            else devcluster.leaf_spine(nodes, gpus_per_node=gpus_per_node)
        )
        started = time.monotonic()
        ports = {"kube-apiserver": apiserver_port} if apiserver_port else None
        plane = devcluster.up(
            nodes=infos,
            run_dir=run_dir,
            ports=ports,
            real_nodes=real_nodes,
            degrade=degraded,
            announce=True,
        )
    except (devcluster.ComponentError, ValueError) as error:
        _fail(error)
    real = f" and {real_nodes} real nodes" if real_nodes else ""
    typer.echo(
        f"dev cluster up with {len(infos)} GPU nodes{real} in {time.monotonic() - started:.1f} s"
    )
    if operator:
        from netsched.devcluster import operator_process

        try:
            running = operator_process.start_operator(plane)
        except devcluster.ComponentError as error:
            _fail(error)
        typer.echo(f"  operator running (pid {running.pid}), log: {running.log}")
        typer.echo(f"  metrics: {operator_process.metrics_url()}")
    typer.echo(f"  export KUBECONFIG={plane.kubeconfig}")
    typer.echo(f"  {devcluster.kubectl_path()} get nodes -L netsched.io/spine,netsched.io/leaf")
    typer.echo("  netsched dev-cluster nodes      # GPU nodes by tier")
    typer.echo("  netsched dev-cluster down       # stop it and remove its files")


@dev_cluster.command("down")
def dev_cluster_down(run_dir: Annotated[Path | None, typer.Option()] = None) -> None:
    """Stop the dev cluster and remove its files."""
    from netsched import devcluster

    typer.echo("dev cluster stopped" if devcluster.down(run_dir) else "no dev cluster was running")


@dev_cluster.command("degrade")
def dev_cluster_degrade(
    leaves: Annotated[
        list[str], typer.Argument(help="LEAF=RATE, e.g. 1=50mbit; LEAF=restore for 200mbit.")
    ],
    run_dir: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Reshape real leaves' uplinks now, on the running fabric (the probe agents see it)."""
    from netsched import devcluster
    from netsched.devcluster import fabric

    plane = devcluster.ControlPlane.load(run_dir or devcluster.default_run_dir())
    if plane is None or not plane.real_prefix:
        _fail(LookupError("no dev cluster with real nodes (dev-cluster up --real-nodes N)"))
    try:
        wanted = [v.replace("=restore", f"={fabric.UPLINK_RATE}") for v in leaves]
        for leaf, rate in fabric.parse_degrade(wanted).items():
            fabric.set_uplink_rate(plane.real_prefix, leaf, rate)
            typer.echo(f"leaf {leaf} uplink: {rate}")
    except ValueError as error:
        _fail(error)


@dev_cluster.command("manifests")
def dev_cluster_manifests(
    values: Annotated[list[str] | None, typer.Option("--set", help="A chart value, k=v.")] = None,
) -> None:
    """Print the Helm chart rendered as plain manifests (deploy/manifests/install.yaml)."""
    from netsched.devcluster import ComponentError, chart

    try:
        typer.echo(chart.render(values or ()), nl=False)
    except ComponentError as error:
        _fail(error)


@dev_cluster.command("status")
def dev_cluster_status(run_dir: Annotated[Path | None, typer.Option()] = None) -> None:
    """Show whether each component is alive, its port and its log."""
    from netsched import devcluster

    plane = devcluster.ControlPlane.load(run_dir or devcluster.default_run_dir())
    if plane is None:
        typer.echo("no dev cluster (start one with: netsched dev-cluster up)")
        raise typer.Exit(code=1)
    typer.echo(json.dumps(devcluster.describe(plane), indent=2))
    if not plane.is_healthy():
        raise typer.Exit(code=1)


@dev_cluster.command("nodes")
def dev_cluster_nodes(run_dir: Annotated[Path | None, typer.Option()] = None) -> None:
    """List the fake GPU nodes with their tier labels and free GPUs."""
    from netsched import devcluster

    plane = devcluster.running(run_dir)
    if plane is None:
        _fail(RuntimeError("no healthy dev cluster; start one with: netsched dev-cluster up"))
    for line in devcluster.node_table(plane):
        typer.echo(line)


# --- run: the operator ---------------------------------------------------------------------


@app.command("run")
def run_command(
    kubeconfig: Annotated[
        Path | None,
        typer.Option(help="The cluster (default: in-cluster credentials, else $KUBECONFIG)."),
    ] = None,
    metrics_port: Annotated[int, typer.Option(help="Serve /metrics here (0: off).")] = 9090,
    metrics_address: Annotated[str, typer.Option(help="Address /metrics binds.")] = "0.0.0.0",
    strategy: Annotated[str, typer.Option(help="Placement strategy.")] = "netsched",
    starvation_seconds: Annotated[
        float,
        typer.Option(help="After this long unplaced, a job holds the jobs behind it."),
    ] = 300.0,
    liveness: Annotated[
        str | None, typer.Option(help="kopf's liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logging of netsched's own decisions.")
    ] = False,
) -> None:
    """Run the operator: queue, place, start, isolate, recover and report TrainingJobs."""
    import logging

    from netsched.controller import Options, run
    from netsched.domain.placement import STRATEGIES

    if strategy not in STRATEGIES:
        _fail(ValueError(f"--strategy: choose one of {', '.join(STRATEGIES)}, not {strategy!r}"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # kopf logs every handled watch event at INFO, and its health endpoint every probe of
    # it: keep both quiet, even when verbose.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    if verbose:
        logging.getLogger("netsched").setLevel(logging.DEBUG)
    run(
        Options(
            kubeconfig=kubeconfig,
            strategy=strategy,
            starvation_seconds=starvation_seconds,
            metrics_port=metrics_port,
            metrics_address=metrics_address,
            liveness=liveness,
        )
    )


# --- probe-agent: measured bandwidth --------------------------------------------------------


@app.command("probe-agent")
def probe_agent_command(
    node: Annotated[
        str,
        typer.Option(envvar="NODE_NAME", help="This node's name (the DaemonSet's downward API)."),
    ],
    kubeconfig: Annotated[
        Path | None,
        typer.Option(help="The cluster (default: in-cluster credentials, else $KUBECONFIG)."),
    ] = None,
    topology: Annotated[str, typer.Option(help="The NetworkTopology to measure.")] = "default",
    node_selector: Annotated[
        str, typer.Option(help="Label selector of the nodes that run agents (default: all).")
    ] = "",
    port: Annotated[int, typer.Option(help="The iperf3 server's port.")] = 5201,
    interval: Annotated[
        int | None,
        typer.Option(min=10, help="Seconds between rounds (default: the topology's probe)."),
    ] = None,
    duration: Annotated[
        int | None, typer.Option(min=1, max=300, help="Seconds a probe runs (default: topology).")
    ] = None,
    streams: Annotated[
        int | None, typer.Option(min=1, max=128, help="TCP streams a probe (default: topology).")
    ] = None,
    probe_busy: Annotated[
        bool, typer.Option("--probe-busy", help="Probe nodes a running gang holds, too.")
    ] = False,
    rounds: Annotated[int | None, typer.Option(min=1, help="Stop after this many rounds.")] = None,
    metrics_port: Annotated[int, typer.Option(help="Serve /metrics here (0: off).")] = 9091,
    metrics_address: Annotated[str, typer.Option(help="Address /metrics binds.")] = "0.0.0.0",
) -> None:
    """Measure this node's links with iperf3 and write them as LinkMeasurements."""
    import logging

    from netsched import metrics
    from netsched.kubeclient import connect
    from netsched.probe.agent import Agent, AgentOptions

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if metrics_port:
        metrics.serve(metrics_port, address=metrics_address)
    options = AgentOptions(
        node=node,
        topology=topology,
        node_selector=node_selector,
        port=port,
        interval_seconds=interval,
        duration_seconds=duration,
        streams=streams,
        probe_busy=probe_busy,
        rounds=rounds,
    )
    with connect(kubeconfig) as api:
        Agent(api, options).run()


# --- explain, queue: the operator's decisions, read back ----------------------------------


KubeconfigOption = Annotated[
    Path | None, typer.Option(help="The cluster (default: $KUBECONFIG or ~/.kube/config).")
]


@app.command("explain")
def explain_command(
    job: Annotated[str, typer.Argument(help="The TrainingJob's name.")],
    namespace: Annotated[str, typer.Option("--namespace", "-n")] = "default",
    kubeconfig: KubeconfigOption = None,
) -> None:
    """Where each rank went and why, against the best labels-only placement; or why it waits."""
    from netsched import explain
    from netsched.kubeclient import HTTPError, connect

    try:
        with connect(kubeconfig) as api:
            typer.echo(
                explain.explain(explain.Reader(api), namespace=namespace, name=job), nl=False
            )
    except HTTPError as error:
        if error.status == 404:
            _fail(LookupError(f"TrainingJob {namespace}/{job} not found (kubectl get tj -A)"))
        raise


@app.command("queue")
def queue_command(kubeconfig: KubeconfigOption = None) -> None:
    """The waiting TrainingJobs, in the order netsched will try them."""
    from datetime import UTC
    from datetime import datetime as clock

    from netsched import explain
    from netsched.kubeclient import connect

    with connect(kubeconfig) as api:
        entries = explain.queue(explain.Reader(api).jobs(), now=clock.now(UTC))
    typer.echo(explain.queue_table(entries), nl=False)


# --- crd: the CustomResourceDefinitions, generated from netsched.api ----------------------------


@app.command("crd")
def crd(
    write: Annotated[bool, typer.Option("--write", help="Write the files into --dir.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if the files in --dir are stale.")
    ] = False,
    directory: Annotated[Path, typer.Option("--dir", help="Where the CRD files live.")] = Path(
        "crds"
    ),
) -> None:
    """Print the CRDs generated from the API models (or write/check crds/).

    `netsched crd | kubectl apply --server-side -f -` installs them.
    """
    from netsched.api import crd as crds

    if write:
        for path in crds.write_all(directory):
            typer.echo(f"wrote {path}", err=True)
    elif check:
        stale = crds.stale_files(directory)
        for name in stale:
            typer.echo(f"stale: {directory / name} (run `netsched crd --write`)", err=True)
        if stale:
            raise typer.Exit(code=1)
    else:
        typer.echo("---\n".join(crds.render_all().values()), nl=False)


# --- observe: the Grafana dashboard and the alerting rules -----------------------------------


@app.command("observe")
def observe(
    write: Annotated[bool, typer.Option("--write", help="Write the files into deploy/.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if a file in deploy/ is stale.")
    ] = False,
    what: Annotated[
        str, typer.Option("--print", help="What to print: dashboard or alerts.")
    ] = "dashboard",
) -> None:
    """Print the Grafana dashboard (or the Prometheus alerting rules), or write/check their
    files: deploy/grafana/, deploy/prometheus/ and the Helm chart's copies."""
    from netsched import observe as rendering

    files = rendering.rendered()
    if write:
        for path, content in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            typer.echo(f"wrote {path}", err=True)
    elif check:
        stale = [p for p, c in files.items() if not p.is_file() or p.read_text() != c]
        for path in stale:
            typer.echo(f"stale: {path} (run `netsched observe --write`)", err=True)
        if stale:
            raise typer.Exit(code=1)
    elif what in ("dashboard", "alerts"):
        chosen = rendering.DASHBOARD_FILE if what == "dashboard" else rendering.ALERTS_FILE
        typer.echo(files[chosen], nl=False)
    else:
        raise typer.BadParameter("dashboard or alerts", param_hint="--print")


# --- place: one placement decision on a cluster saved to a file ------------------------------


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@app.command("place")
def place_command(
    cluster: Annotated[
        Path,
        typer.Option(
            help="A Kubernetes List: kubectl get nodes,pods,networktopologies,"
            "linkmeasurements,trainingjobs -A -o yaml > cluster.yaml"
        ),
    ],
    job: Annotated[Path, typer.Option(help="A TrainingJob manifest.")],
    strategy: Annotated[
        str, typer.Option(help="netsched, tas, spread, binpack, random or optimal.")
    ] = "netsched",
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="table (for people) or json.")
    ] = OutputFormat.TABLE,
    now: Annotated[
        datetime | None,
        typer.Option(help="Judge measurement freshness at this time (default: now)."),
    ] = None,
) -> None:
    """Show where a TrainingJob would be placed, and why, without touching the cluster.

    Exits 0 with a placement or an "unschedulable" answer, 2 when an input is bad.
    """
    from netsched import dryrun

    try:
        run = dryrun.plan(cluster=cluster, job=job, strategy=strategy, now=now)
    except dryrun.ClusterFileError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    if output is OutputFormat.JSON:
        # allow_nan=False: JSON has no Infinity or NaN; jq, Go and JavaScript would refuse them.
        typer.echo(json.dumps(dryrun.outcome_json(run.outcome), indent=2, allow_nan=False))
    else:
        typer.echo(dryrun.outcome_table(run), nl=False)


# --- simulate: a stream of jobs on this cluster, per strategy --------------------------------


class SimulateFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


@app.command("simulate")
def simulate_command(
    cluster: Annotated[
        Path,
        typer.Option(
            help="A Kubernetes List, as for `netsched place`: kubectl get nodes,pods,"
            "networktopologies,linkmeasurements,trainingjobs -A -o yaml > cluster.yaml"
        ),
    ],
    trace: Annotated[
        Path, typer.Option(help="A CSV of jobs, one a line (docs/simulate.md has its columns).")
    ],
    strategy: Annotated[
        str, typer.Option(help="Strategies to compare, comma-separated: netsched,tas,spread.")
    ] = "netsched,tas,spread",
    topology: Annotated[
        str, typer.Option(help="The NetworkTopology whose tiers the cluster is seen by.")
    ] = "default",
    output: Annotated[
        SimulateFormat,
        typer.Option("--output", "-o", help="table (summary), json or csv (every job)."),
    ] = SimulateFormat.TABLE,
    plot: Annotated[
        Path | None, typer.Option(help="Also draw the JCT CDFs, one line a strategy, to a PNG.")
    ] = None,
) -> None:
    """What each strategy would make of a stream of jobs on this cluster: every job's wait,
    run time and completion time, as gangs share the links they cross.

    Exits 0 with the answer, 2 when an input is bad (the message names the line and column).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from netsched import simulate

    try:
        names = simulate.strategies(strategy)
        plan = simulate.load(cluster, trace, topology=topology)
    except (simulate.ClusterFileError, simulate.TraceError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True, disable=not sys.stderr.isatty()) as bar:
        tasks = {n: bar.add_task(n, total=len(plan.jobs)) for n in names}
        outcomes = simulate.run(
            plan, names, progress=lambda name, done: bar.update(tasks[name], completed=done)
        )
    if plot is not None:
        simulate.plot(outcomes, plot)
    rendered = {
        SimulateFormat.TABLE: simulate.table,
        SimulateFormat.JSON: simulate.as_json,
        SimulateFormat.CSV: simulate.as_csv,
    }[output](outcomes)
    typer.echo(rendered, nl=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
