"""Site file: parsing, every kind of error with its file:line, precedence, and the
check-config command run as the user runs it (a subprocess)."""
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from console.site_config import ClusterConfig, ConfigError, effective_cluster, load_site, parse_site

SITES = Path(__file__).parent / "data" / "sites"

# file -> (line, words the message must contain)
BAD = {
    "bad_yaml.yaml": (5, ["bad YAML", "flow sequence started at line 4"]),
    "unknown_top_key.yaml": (2, ["unknown key 'hots'", "did you mean 'hosts'"]),
    "unknown_host_key.yaml": (4, ["unknown key 'adress'", "did you mean 'address'"]),
    "port_wrong_type.yaml": (5, ["hosts[0].port", "expected an integer from 1 to 65535", "'twenty-two'"]),
    "port_out_of_range.yaml": (5, ["70000 is out of range"]),
    "missing_name.yaml": (2, ["missing required key 'name'"]),
    "missing_address.yaml": (5, ["hosts[1]", "missing required key 'address'"]),
    "bad_ip.yaml": (4, ["bad address", "10.0.0.300", "expected an IP address or a DNS name"]),
    "bad_dns_name.yaml": (4, ["bad address", "gpu_01..example.com"]),
    "duplicate_host.yaml": (5, ["duplicate host name 'gpu-01'", "first at line 3"]),
    "unknown_jump.yaml": (8, ["jump names unknown host 'bastoin'", "did you mean 'bastion'"]),
    "bad_role.yaml": (5, ["expected one of gpu, lb, backup, bastion", "'compute'"]),
    "threshold_wrong_type.yaml": (3, ["thresholds.gpu_util_pct", "expected a number from 0 to 100"]),
    "hosts_not_a_list.yaml": (3, ["hosts: expected a list"]),
    "duplicate_key.yaml": (4, ["duplicate key 'namespace'", "first at line 3"]),
    "jump_loop.yaml": (5, ["jump hosts form a loop"]),
    "bad_thp.yaml": (3, ["tuning.thp", "expected one of never, madvise, always"]),
    "empty.yaml": (1, ["empty site file"]),
    "not_a_mapping.yaml": (1, ["expected a mapping", "got a list"]),
    "interval_zero.yaml": (3, ["telemetry.interval_s", "greater than 0"]),
    "cluster_not_mapping.yaml": (2, ["cluster: expected a mapping", "'deepseek'"]),
    "threshold_typo.yaml": (6, ["unknown key 'p99_latncy_ms'", "did you mean 'p99_latency_ms'"]),
    # hostile input: tags, merge keys, bad tagged values, nesting, numbers that lose digits
    "tag_unknown.yaml": (2, ["telemetry", "unsupported YAML tag '!foo'"]),
    "tag_python.yaml": (1, ["name", "unsupported YAML tag '!!python/name:os.system'"]),
    "tag_python_object.yaml": (4, ["hosts[0].address", "unsupported YAML tag '!!python/object/apply"]),
    "bad_timestamp.yaml": (4, ["thresholds.restart_window_s", "'2026-13-45'", "not a valid date"]),
    "bad_binary.yaml": (3, ["cluster.context", "!!binary", "not valid base64"]),
    "version_as_number.yaml": (4, ["tuning.driver_min", "550.90 reads as 550.9", 'driver_min: "550.90"']),
    "nccl_version_as_number.yaml": (3, ["tuning.nccl_min", "2.10 reads as 2.1", 'nccl_min: "2.10"']),
    "threshold_nan.yaml": (3, ["thresholds.p99_latency_ms", "not a finite number", "nan"]),
    "interval_inf.yaml": (3, ["telemetry.interval_s", "not a finite number", "inf"]),
    "merge_not_mapping.yaml": (5, ["hosts[0]", "merge key `<<`", "an integer (5)"]),
    "merge_unknown_key.yaml": (6, ["hosts[0]: unknown key 'rol'", "hosts[1]: unknown key 'rol'",
                                   "did you mean 'role'"]),
    "too_deep.yaml": (2, ["a mapping nested deeper than"]),
    "too_deep_flow.yaml": (2, ["a list nested deeper than"]),
    "balancer_unknown_host.yaml": (3, ["balancer.host: unknown host 'lb-9'", "did you mean 'lb-0'"]),
    "balancer_bad_upstream.yaml": (8, ["balancer.upstreams[0].address", "expected HOST:PORT"]),
    "balancer_stop_without_start.yaml": (8, ["balancer.upstreams[0]", "stop_command and start_command go together"]),
}


def check_config(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_every_bad_file_is_covered():
    assert sorted(BAD) == sorted(p.name for p in (SITES / "bad").glob("*.yaml"))
    assert len(BAD) >= 10


def test_check_config_on_malformed_files_gives_file_line_and_exit_2():
    files = sorted(BAD)
    with ThreadPoolExecutor(max_workers=4) as ex:
        results = dict(zip(files, ex.map(lambda f: check_config(SITES / "bad" / f), files), strict=True))
    for name, (line, words) in BAD.items():
        r = results[name]
        path = str(SITES / "bad" / name)
        assert r.returncode == 2, (name, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr, name
        first = r.stderr.splitlines()[0]
        assert first.startswith(f"{path}:{line}: "), (name, first)
        for w in words:
            assert w in r.stderr, (name, w, r.stderr)
        assert "expected" in r.stderr, name          # says what was expected


def test_each_message_is_distinct():
    messages = set()
    for name in BAD:
        with pytest.raises(ConfigError) as e:
            load_site(SITES / "bad" / name)
        messages.add(e.value.message)
    assert len(messages) == len(BAD)


def test_all_problems_are_reported_at_once(tmp_path):
    f = tmp_path / "many.yaml"
    f.write_text("name: prod\ncluster:\n  contxt: x\nhosts:\n  - name: a\n    address: 999.1.1.1\n"
                 "    port: 0\n")
    with pytest.raises(ConfigError) as e:
        load_site(f)
    lines = [err.line for err in e.value.errors]
    assert lines == [3, 6, 7]
    assert str(e.value).count(f"{f}:") == 3


def test_good_site_file_parses_fully():
    site = load_site(SITES / "good.yaml")
    assert site.name == "prod-east"
    assert site.cluster.context == "prod-east-admin" and site.cluster.namespace == "deepseek"
    assert site.cluster.kubeconfig == str(Path.home() / ".kube/prod-east.yaml")
    assert [h.name for h in site.hosts] == ["bastion", "gpu-01", "gpu-02", "lb-01", "backup-01"]
    bastion, gpu1, gpu2, lb, backup = site.hosts
    assert (bastion.port, bastion.user, bastion.role) == (2222, "ops", "bastion")
    assert gpu1.jump == "bastion" and gpu1.role == "gpu" and gpu2.role == "gpu"
    assert gpu2.port is None and gpu2.user is None
    assert lb.address == "fd00::20" and lb.role == "lb"
    assert [h.name for h in site.hosts_with_role("gpu")] == ["gpu-01", "gpu-02"]
    assert site.thresholds.gpu_util_pct == 90 and site.thresholds.p99_latency_ms == 500
    assert site.thresholds.consistency_failure_pct == 0.1
    assert site.tuning.swappiness == 1 and site.tuning.thp == "never" and site.tuning.cuda_major == 12
    assert site.tuning.driver_min == "535.104" and site.tuning.memlock == "unlimited"
    assert site.telemetry.interval_s == 5


def test_check_config_ok_summary_and_exit_0():
    r = check_config(SITES / "good.yaml")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1
    assert "OK" in r.stdout and "prod-east" in r.stdout and "5 host(s)" in r.stdout


def test_check_config_missing_file_exit_2(tmp_path):
    r = check_config(tmp_path / "nope.yaml")
    assert r.returncode == 2 and f"{tmp_path / 'nope.yaml'}:1: no such file" in r.stderr
    assert "Traceback" not in r.stderr


def test_defaults_when_sections_are_absent():
    site = parse_site("name: tiny\n")
    assert site.cluster == ClusterConfig()
    assert site.hosts == ()
    assert site.thresholds.gpu_util_window_s == 300
    assert site.tuning.thp == "never" and site.tuning.numa_balancing == 0


def test_host_tuning_targets_read_the_site_tuning_section():
    from actions.host_tuning.targets import TuningTargets
    site = parse_site("name: t\ntuning:\n  swappiness: 10\n  thp: madvise\n  shm_min_gib: 64\n")
    t = TuningTargets.from_site(site.tuning)
    assert (t.swappiness, t.thp, t.shm_min_gib) == (10, "madvise", 64)


def test_precedence_flag_over_env_over_site_over_defaults():
    site = parse_site("name: p\ncluster:\n  kubeconfig: /site/kc\n  context: site-ctx\n  namespace: site-ns\n")
    env = {"DSCONSOLE_CONTEXT": "env-ctx", "DSCONSOLE_NAMESPACE": "env-ns"}
    c = effective_cluster(site, context="flag-ctx", env=env)
    assert (c.kubeconfig, c.context, c.namespace) == ("/site/kc", "flag-ctx", "env-ns")
    c = effective_cluster(site, env={})
    assert (c.kubeconfig, c.context, c.namespace) == ("/site/kc", "site-ctx", "site-ns")
    c = effective_cluster(None, env={})
    assert (c.kubeconfig, c.context, c.namespace) == (None, None, "deepseek")
    c = effective_cluster(site, kubeconfig="/flag/kc", env={"DSCONSOLE_KUBECONFIG": "/env/kc"})
    assert c.kubeconfig == "/flag/kc"
    c = effective_cluster(site, env={"DSCONSOLE_KUBECONFIG": "/env/kc"})
    assert c.kubeconfig == "/env/kc"


def test_dsconsole_site_env_is_used_by_check_config(monkeypatch):
    env = {"DSCONSOLE_SITE": str(SITES / "good.yaml"), "PATH": "/usr/bin:/bin"}
    import os
    env = {**os.environ, **env}
    r = subprocess.run([sys.executable, "-m", "console", "check-config"], capture_output=True, text=True,
                       timeout=60, env=env)
    assert r.returncode == 0 and "prod-east" in r.stdout


def test_readme_site_example_is_valid_and_complete():
    """README.md's site file example parses and names every key the parser knows."""
    from console import site_config as sc
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Site file", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    site = parse_site(example, "README.md")
    assert site.name and site.hosts
    for section_name, (spec, _) in sc._SECTIONS.items():
        for key in spec:
            assert f"  {key}:" in example or f"# {key}:" in example, (section_name, key)
    for key in sc._HOST:
        assert f"    {key}:" in example or f"  - {key}:" in example, key
    for key in sc._MODEL:
        assert f"    {key}:" in example or f"  - {key}:" in example or f"    # {key}:" in example, key
    assert site.models and site.models[0].name == "deepseek-v3"
    b = site.backup
    assert b is not None and len(b.sources) == 4 and len(b.copies) == 3
    for spec in (sc._BACKUP, sc._BACKUP_SOURCE, sc._BACKUP_COPY, sc._BACKUP_POLICY, {"namespaces": 0},
                 sc._BALANCER, sc._BALANCER_UPSTREAM, sc._BLUEGREEN, sc._BLUEGREEN_GATE,
                 {"steps": 0, "gate": 0}):
        for key in spec:
            assert f" {key}:" in example, key
    lb = site.balancer
    assert lb is not None and lb.host == "lb-01" and [u.address for u in lb.upstreams] == \
        ["10.20.0.11:8000", "10.20.0.12:8000"] and lb.upstreams[0].start_command == "systemctl start vllm"
    bg = site.bluegreen
    assert bg is not None and bg.model == "deepseek-v3" and tuple(bg.green) == ("10.20.0.12:8000",)
    assert lb.include == "/etc/nginx/conf.d/dsconsole-upstream.conf" and lb.nginx == "nginx"
    assert bg.steps == ((100, 0), (90, 10), (50, 50), (0, 100)) and bg.gate.p99_ms == 500


def test_merge_keys_share_host_defaults():
    """YAML merge keys (`<<: *anchor`) work as YAML defines them: the mapping's
    own keys win, then the merged ones, the first of a list of merges first."""
    site = parse_site(
        "name: m\n"
        "hosts:\n"
        "  - &ops {name: gpu-01, address: 10.0.0.1, user: ops, port: 2222, role: gpu}\n"
        "  - &jump {name: bastion, address: 10.0.0.9, role: bastion, identity_file: /k}\n"
        "  - <<: *ops\n"
        "    name: gpu-02\n"
        "    address: 10.0.0.2\n"
        "  - <<: [*ops, *jump]\n"
        "    name: gpu-03\n"
        "    address: 10.0.0.3\n"
        "    jump: bastion\n")
    gpu2, gpu3 = site.host("gpu-02"), site.host("gpu-03")
    assert (gpu2.user, gpu2.port, gpu2.role, gpu2.address) == ("ops", 2222, "gpu", "10.0.0.2")
    assert (gpu3.role, gpu3.identity_file, gpu3.jump) == ("gpu", "/k", "bastion")
    # an error in a merged value is reported where it is written (the anchor)
    with pytest.raises(ConfigError) as e:
        parse_site("name: m\nhosts:\n  - &a {name: a, address: 10.0.0.1, port: 0}\n"
                   "  - <<: *a\n    name: b\n")
    assert [err.line for err in e.value.errors] == [3, 3]
    assert "hosts[1].port: 0 is out of range" in str(e.value)


def test_site_file_over_the_size_limit_is_refused_before_parsing(tmp_path):
    """A 22 MB site file once took 130 s and 2 GB to be refused: the size is
    checked before anything is parsed, and the message says the limit."""
    from console.site_config import MAX_SITE_BYTES
    big = tmp_path / "big.yaml"
    with open(big, "w") as f:
        f.write("name: big\nhosts:\n")
        row = "  - {name: h, address: 10.0.0.1}\n"
        f.write(row * (22 * 1024 * 1024 // len(row)))
    for path in (big, "/dev/zero"):            # /dev/zero: no size to stat, endless to read
        r = check_config(path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.startswith(f"{path}:1: ")
        assert f"{MAX_SITE_BYTES // 1024 // 1024} MiB" in r.stderr and "expected" in r.stderr
    ok = tmp_path / "ok.yaml"
    ok.write_text("name: ok\n" + "# padding\n" * ((MAX_SITE_BYTES - 100) // 10))
    assert check_config(ok).returncode == 0


def test_yaml_control_characters_name_their_line(tmp_path):
    f = tmp_path / "ctl.yaml"
    f.write_text("name: prod\ncluster:\n  context: a\x07b\n")
    with pytest.raises(ConfigError) as e:
        load_site(f)
    assert e.value.line == 3 and "#x0007" in e.value.message and "\x07" not in str(e.value)


# every command that loads a site file: the same file:line error, exit 2
SITE_COMMANDS = [["check-config"], ["gpus", "--site"], ["status", "--site"],
                 ["tune", "plan", "--site"], ["hosts", "trust", "gpu-01", "--site"]]


@pytest.mark.parametrize("command", SITE_COMMANDS, ids=lambda c: c[0])
def test_every_command_that_loads_a_site_reports_hostile_input(command):
    hostile = ["tag_python.yaml", "bad_timestamp.yaml", "bad_binary.yaml", "merge_not_mapping.yaml",
               "too_deep_flow.yaml", "version_as_number.yaml"]

    def run(name):
        path = SITES / "bad" / name
        return name, subprocess.run([sys.executable, "-m", "console", *command, str(path)],
                                    capture_output=True, text=True, timeout=60)
    with ThreadPoolExecutor(max_workers=3) as ex:
        for name, r in ex.map(run, hostile):
            assert r.returncode == 2, (command, name, r.stdout, r.stderr)
            assert "Traceback" not in r.stderr, (command, name, r.stderr)
            line = BAD[name][0]
            assert r.stderr.startswith(f"{SITES / 'bad' / name}:{line}: "), (command, name, r.stderr)


def test_nested_merges_and_a_merge_bomb():
    """A merged mapping may merge others itself (its own keys win over those);
    merges that fan out exponentially (a 'billion laughs' made of `<<`) are
    refused at their line instead of expanded."""
    site = parse_site(
        "name: m\n"
        "hosts:\n"
        "  - &base {name: base, address: 10.0.0.1, user: base, port: 22, role: bastion}\n"
        "  - &ops {<<: *base, name: ops, address: 10.0.0.2, user: ops}\n"
        "  - {<<: *ops, name: gpu, address: 10.0.0.3}\n")
    gpu = site.host("gpu")
    assert (gpu.user, gpu.port, gpu.role) == ("ops", 22, "bastion")
    lines = ["name: bomb", "hosts:", "  - &a0 {name: h, address: 10.0.0.1}"]
    for i in range(1, 40):   # each level merges the previous one twice: 2**39 pairs if expanded
        lines.append(f"  - &a{i} {{<<: [*a{i - 1}, *a{i - 1}], name: h{i}, address: 10.0.0.1}}")
    with pytest.raises(ConfigError) as e:
        parse_site("\n".join(lines) + "\n")
    assert e.value.line == 3 + 33              # the first host that merges more than 32
    assert "more than 32 mappings merged" in e.value.message and "expected" in e.value.message


def test_backup_section_errors_name_file_line_and_what_was_expected(tmp_path):
    """The backup: section reports every problem as file:line like the others,
    including what only the whole section shows."""
    text = """name: t
hosts:
  - name: store1
    address: 10.0.0.1
backup:
  sources:
    - name: weights
      host: store1
      path: /models/x
    - name: objects
      kind: kubernetes
      namespaces: deepseek
  copies:
    - name: primary
      kind: production
      medium: ssd
      repository: /srv/restic
    - name: city
      kind: same-city
      medium: floppy
      repository: sftp:nohost
      host: store2
"""
    with pytest.raises(ConfigError) as e:
        parse_site(text, "s.yaml")
    msg = str(e.value)
    assert "s.yaml:5: backup: no repository password; expected `password_file: PATH`" in msg
    assert "s.yaml:12: backup.sources[1].namespaces: expected a list of namespace names" in msg
    assert "s.yaml:14: backup.copies[0]: repository /srv/restic is a path on host 'local', out of " \
           "reach of source(s) weights on other hosts" in msg
    assert "s.yaml:20: backup.copies[1].medium: expected one of ssd, hdd, tape, object, removable" in msg
    assert "s.yaml:21: backup.copies[1].repository: bad sftp repository 'sftp:nohost'" in msg
    assert "s.yaml:22: backup.copies[1].host: unknown host 'store2' (did you mean 'store1'?)" in msg
