"""`python -m jobs ...` is the `genrec` CLI."""

from jobs.cli.main import main

main()
