"""The ``stepsched`` command line: a thin Typer layer over the core library.

:mod:`~stepsched_cli.cli.app` builds the application and turns errors into exit
codes; :mod:`~stepsched_cli.cli.options` declares the shared options once, by concern;
:mod:`~stepsched_cli.cli.output` prints everything; :mod:`~stepsched_cli.cli.commands`
holds the commands, one module per command or group of commands.
"""
