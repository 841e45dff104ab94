"""deploy/prometheus: the alert rules parse (`promtool check rules`), their unit tests pass
(`promtool test rules`: each rule fires and stays silent where it should), and the example
Prometheus configuration is valid (`promtool check config`). No root needed."""
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.no_root


@pytest.fixture(scope="module")
def promtool():
    path = shutil.which("promtool") or ("/usr/bin/promtool" if os.access("/usr/bin/promtool",
                                                                           os.X_OK) else None)
    if path is None:
        pytest.skip("SKIPPED (environment): promtool not found: install Debian's `prometheus` "
                    "package (scripts/setup.sh does); the alert rules are NOT checked")
    return path


@pytest.fixture(scope="module")
def deploy_dir(source_dir):
    path = os.path.join(source_dir, "deploy", "prometheus")
    assert os.path.isdir(path), "missing " + path
    return path


def promtool_run(promtool, cwd, *args):
    res = subprocess.run([promtool, *args], cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=60)
    assert res.returncode == 0, "promtool %s failed (%d):\n%s" % (" ".join(args), res.returncode,
                                                                  res.stdout)
    return res.stdout


def test_check_rules(promtool, deploy_dir):
    out = promtool_run(promtool, deploy_dir, "check", "rules", "guardrail.rules.yml")
    assert "SUCCESS" in out, out


def test_rules_unit_tests(promtool, deploy_dir):
    out = promtool_run(promtool, deploy_dir, "test", "rules", "guardrail.rules.test.yml")
    assert "SUCCESS" in out, out


def test_every_rule_has_a_firing_and_a_silent_case(deploy_dir):
    """The unit test file covers each alert of the rules file both ways."""
    import re
    with open(os.path.join(deploy_dir, "guardrail.rules.yml")) as f:
        rules = re.findall(r"^\s*-\s*alert:\s*(\S+)", f.read(), re.M)
    with open(os.path.join(deploy_dir, "guardrail.rules.test.yml")) as f:
        text = f.read()
    cases = re.findall(r"alertname:\s*(\S+)\s*\n\s*exp_alerts:\s*(\[\])?", text)
    firing = {name for name, empty in cases if not empty}
    silent = {name for name, empty in cases if empty}
    assert rules, "no alert rules found"
    assert set(rules) <= firing, "rules never shown firing: %s" % sorted(set(rules) - firing)
    assert set(rules) <= silent, "rules never shown silent: %s" % sorted(set(rules) - silent)


def test_rules_labels_and_annotations(deploy_dir):
    """Each rule has a severity label and summary/description annotations."""
    import re
    with open(os.path.join(deploy_dir, "guardrail.rules.yml")) as f:
        text = f.read()
    blocks = re.split(r"^\s*-\s*alert:\s*", text, flags=re.M)[1:]
    assert blocks
    for block in blocks:
        name = block.split()[0]
        assert re.search(r"severity:\s*(critical|warning|info)\b", block), name
        assert re.search(r"^\s*summary:", block, re.M), name
        assert re.search(r"^\s*description:", block, re.M), name


def test_example_prometheus_config(promtool, deploy_dir):
    out = promtool_run(promtool, deploy_dir, "check", "config", "prometheus.yml")
    assert "SUCCESS" in out, out
