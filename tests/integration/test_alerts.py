"""netsched's alerting rules with the promtool built here: the rule file is valid, and each
alert fires when it should and stays quiet when it should not
(tests/prometheus/netsched-alerts.test.yaml, one case each way per alert)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from netsched import observe
from netsched.devcluster.binaries import TOOL_COMPONENTS, ensure_all

pytestmark = pytest.mark.integration

TESTS = Path(__file__).resolve().parents[1] / "prometheus"


def promtool(*args: str, cwd: Path | None = None, ok: bool = True) -> str:
    binary = ensure_all(TOOL_COMPONENTS)["promtool"]
    result = subprocess.run([str(binary), *args], capture_output=True, text=True, cwd=cwd)
    assert (result.returncode == 0) is ok, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_promtool_checks_the_rule_files() -> None:
    chart_copy = observe.CHART_FILES / observe.ALERTS_FILE.name
    out = promtool("check", "rules", str(observe.ALERTS_FILE), str(chart_copy))
    assert out.count(f"SUCCESS: {len(observe.ALERTS)} rules found") == 2, out


def test_promtool_unit_tests_every_alert() -> None:
    out = promtool("test", "rules", "netsched-alerts.test.yaml", cwd=TESTS)
    assert "SUCCESS" in out and "FAILED" not in out, out


def test_a_wrong_expectation_fails_the_unit_test(tmp_path: Path) -> None:
    """The unit test can fail: the same cases, expecting the operator-down alert to be quiet
    when it has been down 6 minutes."""
    quiet = "alertname: NetschedOperatorDown, exp_alerts: []}"
    text = (TESTS / "netsched-alerts.test.yaml").read_text()
    wrong = text.replace(f"{{eval_time: 13m, {quiet}", f"{{eval_time: 16m, {quiet}")
    assert wrong != text
    (tmp_path / "t.yaml").write_text(wrong.replace("../../deploy/prometheus/", "rules/"))
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / observe.ALERTS_FILE.name).write_text(observe.ALERTS_FILE.read_text())
    out = promtool("test", "rules", "t.yaml", cwd=tmp_path, ok=False)
    assert "NetschedOperatorDown" in out and "FAILED" in out, out
