"""Bad input to a headless command: the message goes to stderr as
`dsconsole COMMAND: message`, every control character made visible (it may
quote a site file or a cluster object), and the command exits 2, without a
traceback."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from console.safe_text import visible_text


class BadInput(Exception):
    """Input the command cannot use; the message says what was expected."""


def run_reporting_bad_input(command: str, body: Callable[[argparse.Namespace], int], args: argparse.Namespace,
                            *, also: tuple[type[Exception], ...] = ()) -> int:
    """body(args), with BadInput (and the exceptions in `also`, which are
    bad input for this command too) reported as above."""
    try:
        return body(args)
    except BadInput as e:
        message = str(e)
    except also as e:
        message = str(e)
    print(f"dsconsole {command}: {visible_text(message)}", file=sys.stderr)
    return 2
