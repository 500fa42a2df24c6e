"""`python -m jobs ...` is the `genrec` CLI."""
from jobs.cli import main

main()
