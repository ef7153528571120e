"""Command-line entry points, one module per `launch.py` subcommand (each has `main(argv)`)."""
