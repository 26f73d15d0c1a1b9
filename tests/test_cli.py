import subprocess
import sys


def test_bad_argument_exits_2_with_message_and_no_traceback():
    p = subprocess.run([sys.executable, "-m", "console", "--no-such-flag"],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in p.stderr
    assert "Traceback" not in p.stderr


def test_site_options_accepted_before_and_after_the_command():
    from console.cli import build_parser
    assert build_parser().parse_args(["--site", "a.yaml", "status"]).site == "a.yaml"
    assert build_parser().parse_args(["status", "--site", "b.yaml"]).site == "b.yaml"


def test_plain_dsconsole_args_are_the_parsers_defaults():
    """Plain `dsconsole` skips argparse (console/cli.py plain_args); what it
    hands the command must be exactly what the parser would have."""
    from console.cli import build_parser, plain_args
    assert vars(plain_args()) == vars(build_parser(commands=False).parse_args([]))


def _help(*args: str) -> str:
    p = subprocess.run([sys.executable, "-m", "console", *args, "--help"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def _options(help_text: str) -> set[str]:
    import re
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", help_text))


def test_each_command_help_lists_only_the_options_it_uses():
    site_options = {"--site", "--kubeconfig", "--context", "--read-only", "--operator", "--theme"}
    expected = {"sim": {"--kubeconfig"},          # its own: the file it writes
                "demo": {"--read-only", "--operator", "--theme"},
                "status": {"--site", "--kubeconfig", "--context"},
                "doctor": {"--site", "--kubeconfig", "--context"},
                "tune": {"--site", "--read-only", "--operator"},
                "check-config": {"--site"}, "gpus": {"--site"}, "audit": set(), "completion": set()}
    for command, wanted in expected.items():
        assert _options(_help(command)) & site_options == wanted, command
    assert "the kubeconfig file to WRITE" in _help("sim")
    # all of them are still accepted before the command
    assert _options(_help()) >= site_options | {"--version"}


def test_an_option_the_command_does_not_use_is_refused():
    p = subprocess.run([sys.executable, "-m", "console", "sim", "serve", "--theme", "light"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "unrecognized arguments: --theme light" in p.stderr
    assert "Traceback" not in p.stderr


def test_demo_and_sim_describe_the_demo_site_options_alike():
    import re

    def described(text: str) -> dict[str, str]:
        # option -> its help text, lines joined
        out, current = {}, None
        for line in text.splitlines():
            m = re.match(r"  (--[a-z-]+)(?: \S+)?\s{2,}(.*)", line)
            if m:
                current = m.group(1)
                out[current] = m.group(2)
            elif current and line.startswith(" " * 10):
                out[current] += " " + line.strip()
            else:
                current = None
        return out
    demo, sim = described(_help("demo")), described(_help("sim"))
    for option in ("--nodes", "--gpus-per-node", "--replicas", "--time-scale", "--seed"):
        assert demo[option] == sim[option], option
    assert "3/4 of the GPUs" in sim["--replicas"]


def test_version_names_dsconsole_python_and_the_libraries(capsys):
    import platform
    from importlib import metadata

    import pytest

    from console.cli import main
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"dsconsole {metadata.version('deepseek-console')}"
    assert out[1].startswith(f"python {platform.python_version()} ")
    assert out[2:] == [f"{name} {metadata.version(name)}" for name in ("textual", "paramiko", "msgspec")]


def test_version_does_not_build_the_subcommands():
    """--version is answered by the global parser alone (no command module imported)."""
    code = ("import sys\nfrom console.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('console.commands.')))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[]"
