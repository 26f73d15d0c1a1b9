"""The replaying nvidia-smi's fast path (tests/data/gpu/nvidia-smi, sh part):
an answer it gave before is replayed without starting Python, and only while
the arguments and the variant file's text are the same."""
import json

import pytest

pytestmark = [pytest.mark.hosts, pytest.mark.timeout(120)]

QUERY = "nvidia-smi --query-gpu=index,utilization.gpu,name --format=csv,noheader,nounits"
APPS = "nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits"
# Python's start shows in strace as an execve of python3; the fast path has none
EXECS = (r"strace -f -e trace=execve -o /tmp/trace {cmd} >/tmp/out; "
         r"grep -c 'execve(.* = 0$' /tmp/trace")  # programs started


def answer(h, cmd=QUERY):
    p = h.sh(cmd, check=True)
    return p.stdout


def execs(h, cmd=QUERY):
    return int(h.sh(EXECS.format(cmd=cmd), check=True).stdout)


def variant(h, v):
    h.sh("cat > /etc/dsconsole-fake-gpu.json", input=json.dumps(v), check=True)


def test_replayed_answers_follow_the_variant_file(test_hosts):
    h, = test_hosts.start(1)
    first = answer(h)
    assert first == "0, 0, NVIDIA H200\n"
    assert answer(h) == first and execs(h) == 1  # replayed: no Python started
    variant(h, {"gpus": 2, "set": {"utilization.gpu": "55"}})
    assert answer(h) == "0, 55, NVIDIA H200\n1, 55, NVIDIA H200\n"
    assert execs(h) == 1
    # same size, same second: the text decides, not the file's size or time
    variant(h, {"gpus": 2, "set": {"utilization.gpu": "56"}})
    assert answer(h) == "0, 56, NVIDIA H200\n1, 56, NVIDIA H200\n"
    h.sh("rm /etc/dsconsole-fake-gpu.json", check=True)
    assert answer(h) == first and execs(h) == 1
    # other arguments: answered by Python, then replayed too
    other = QUERY.replace("index,", "")
    assert answer(h, other) == "0, NVIDIA H200\n" and execs(h, other) == 1
    assert answer(h, APPS) == "" and execs(h, APPS) == 1
    variant(h, {"compute_apps": [{"gpu": 0, "pid": 4242, "process_name": "python3",
                                  "used_memory": 70000}]})
    assert answer(h, APPS) == "4242, 70000\n"


def test_a_slow_gpu_is_replayed_slow_and_errors_are_never_replayed(test_hosts):
    h, = test_hosts.start(1)
    variant(h, {"delay_s": 0.5})
    assert answer(h) == "0, 0, NVIDIA H200\n"
    # replayed with a `sleep` of the variant's delay (its execve), not Python
    assert answer(h) == "0, 0, NVIDIA H200\n" and execs(h) == 2
    assert "sleep" in h.sh("grep execve /tmp/trace").stdout
    variant(h, {"unknown_fields": ["utilization.gpu"]})
    for _ in range(2):
        p = h.sh(QUERY)
        assert (p.returncode, p.stdout) == (2, 'Field "utilization.gpu" is not a valid field '
                                               'to query.\n\n')
    assert execs(h) > 1  # Python each time
