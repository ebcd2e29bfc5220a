"""`python -m creditsync` is the `creditsync` console script."""

import sys

from creditsync.early_stop import exit_cleanly_on_sigterm

if sys.argv[1:2] in (["run"], ["worker"]):
    # Before the CLI's imports (half a second): the commands install it again for the
    # console script, which starts in creditsync.cli.
    exit_cleanly_on_sigterm()

from creditsync.cli import main

main()
