"""`python -m queuectl.cli ...`, the form an earlier QueueCTL tool documented."""

from queuectl.cli import main

main()
