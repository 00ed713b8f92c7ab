"""``netsched simulate``: a saved cluster and a job trace in, each strategy's completion
times out; a bad trace line is named with its line and column."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netsched.cli import app

CLUSTER = Path(__file__).parent / "data" / "cluster.yaml"
HEADER = "arrival_seconds,gpus,pattern,bytes_per_step,steps,compute_seconds,priority,name\n"
TRACE = HEADER + (
    "0,16,DataParallel,1000000000,200,0.5,0,ddp\n"
    "10,8,ExpertParallel,500000000,100,0.2,0,moe\n"
    "20,32,Hybrid,100000000,50,1.0,1,llm\n"
    "30,4,None,0,1000,0.01,0,rl\n"
    "40,512,DataParallel,1000000000,10,0.5,0,too-big\n"
)
runner = CliRunner()


def simulate(tmp_path: Path, trace: str, *args: str) -> tuple[int, str]:
    path = tmp_path / "trace.csv"
    path.write_text(trace)
    result = runner.invoke(app, ["simulate", "--cluster", str(CLUSTER), "--trace", str(path),
                                 *args])  # fmt: skip
    return result.exit_code, result.output


def test_every_strategy_gets_a_row_and_the_job_too_big_never_starts(tmp_path: Path) -> None:
    code, out = simulate(tmp_path, TRACE, "--strategy", "netsched,tas,spread")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["strategy", "jobs"]
    assert [line.split()[0] for line in lines[1:]] == ["netsched", "tas", "spread"]
    assert all(line.split()[1:3] == ["5", "1"] for line in lines[1:]), out  # 5 jobs, 1 never


def test_json_and_csv_list_every_job_with_its_wait_run_and_jct(tmp_path: Path) -> None:
    code, out = simulate(tmp_path, TRACE, "--strategy", "netsched,spread", "-o", "json")
    assert code == 0, out
    document = json.loads(out)
    assert [s["strategy"] for s in document["strategies"]] == ["netsched", "spread"]
    jobs = {(j["strategy"], j["name"]): j for j in document["jobs"]}
    assert len(jobs) == 10 and jobs[("netsched", "too-big")]["start"] is None
    ddp = jobs[("netsched", "ddp")]
    assert ddp["jct"] == pytest.approx(ddp["wait"] + ddp["run"], abs=0.01)
    assert ddp["run"] >= 200 * 0.5  # its compute at least
    rl = jobs[("netsched", "rl")]  # one pod, no traffic: compute only
    assert rl["run"] == pytest.approx(1000 * 0.01) and rl["comm_seconds_per_step"] == 0
    code, out = simulate(tmp_path, TRACE, "--strategy", "tas", "-o", "csv")
    rows = list(csv.DictReader(out.splitlines()))
    assert code == 0 and [r["name"] for r in rows] == ["ddp", "moe", "llm", "rl", "too-big"]


def test_the_plot_is_written(tmp_path: Path) -> None:
    plot = tmp_path / "jct.png"
    code, out = simulate(tmp_path, TRACE, "--strategy", "netsched,tas", "--plot", str(plot))
    assert code == 0, out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "line, message",
    [
        ("0,eight,DataParallel,1,1,1,0,a", "trace.csv:2: column gpus: 'eight' is not an integer"),
        ("0,8,AllReduce,1,1,1,0,a", "trace.csv:2: column pattern: 'AllReduce' is not one of"),
        ("-5,8,DataParallel,1,1,1,0,a", "trace.csv:2: column arrival_seconds: -5 must be at"),
        ("0,8,DataParallel,1,1,nan,0,a", "trace.csv:2: column compute_seconds: nan is not a fin"),
        ("0,8,DataParallel,1,inf,1,0,a", "trace.csv:2: column steps: 'inf' is not an integer"),
        ("0,8,DataParallel,1,1,inf,0,a", "trace.csv:2: column compute_seconds: inf is not a fin"),
        ("0,8,DataParallel,1e9,1,1,0,a", "trace.csv:2: column bytes_per_step: '1e9' is not a by"),
        ("0,8,DataParallel,-1,1,1,0,a", "trace.csv:2: column bytes_per_step: '-1' is not a byte"),
    ],
)  # fmt: skip
def test_a_bad_value_names_its_line_and_column(tmp_path: Path, line: str, message: str) -> None:
    code, out = simulate(tmp_path, HEADER + line + "\n")
    assert code == 2 and message in out, out


def test_bytes_per_step_is_written_as_in_a_trainingjob(tmp_path: Path) -> None:
    """``14Gi`` or ``500M`` as in ``communication.bytesPerStep``, or a whole number; the
    same payload written either way simulates the same."""
    runs = []
    for payload in ("1Gi", "1073741824"):
        code, out = simulate(tmp_path, HEADER + f"0,16,DataParallel,{payload},200,0.5,0,ddp\n",
                             "--strategy", "netsched", "-o", "json")  # fmt: skip
        assert code == 0, out
        runs.append(json.loads(out)["jobs"][0])
    assert runs[0] == runs[1] and runs[0]["comm_seconds_per_step"] > 0


def test_a_trace_without_jobs_is_refused(tmp_path: Path) -> None:
    code, out = simulate(tmp_path, HEADER)
    assert code == 2 and "trace.csv:1: no jobs" in out, out


def test_a_missing_column_a_duplicate_name_and_an_unknown_strategy_are_refused(
    tmp_path: Path,
) -> None:
    code, out = simulate(tmp_path, "arrival_seconds,gpus\n0,8\n")
    assert code == 2 and "the header lacks pattern, bytes_per_step" in out, out
    twice = HEADER + "0,8,None,0,1,1,0,a\n1,8,None,0,1,1,0,a\n"
    code, out = simulate(tmp_path, twice)
    assert code == 2 and "trace.csv:3: column name: 'a' is used twice" in out, out
    code, out = simulate(tmp_path, TRACE, "--strategy", "netsched,fastest")
    assert code == 2 and "--strategy: unknown fastest" in out, out
