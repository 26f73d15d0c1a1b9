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
