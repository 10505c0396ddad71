"""CLI subcommands; see ``core/cli.py`` for the module contract."""
