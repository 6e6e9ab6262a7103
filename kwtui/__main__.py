import gc
import os
import sys

# Start-up creates many objects that live as long as the process; collecting them again and
# again while modules import is wasted work. kwtui.cli turns the collector back on (after
# freezing what exists) before any data moves.
gc.disable()

from kwtui.cli import entry as cli  # noqa: E402

code = cli.main()
if cli.fast_exit:
    # a data command is done and everything it wrote is closed or committed: skip the
    # interpreter's teardown (tens of milliseconds of freeing objects one by one)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
raise SystemExit(code)
