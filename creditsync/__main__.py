"""`python -m creditsync` is the `creditsync` console script."""

import signal
import sys

if sys.argv[1:2] in (["run"], ["worker"]):
    # Before the imports (half a second): a supervisor's SIGTERM while a worker starts, or
    # right after the stall watchdog re-executed it, is a clean stop (cli.exit_cleanly_on_sigterm).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))

from creditsync.cli import main

main()
