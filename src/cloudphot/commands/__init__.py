"""CLI subcommands of the pipeline itself (each module exposes ``add_commands``)."""
