"""`python -m creditsync` is the `creditsync` console script."""

from creditsync.cli import main

main()
