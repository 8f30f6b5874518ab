"""The ``stepsched`` command line: a thin Typer layer over the core library.

:mod:`~stepsched_cli.cli.app` builds the application and turns errors into exit
codes; :mod:`~stepsched_cli.cli.options` declares the shared options once;
:mod:`~stepsched_cli.cli.output` prints everything; one module per command group
(:mod:`~stepsched_cli.cli.plan`, :mod:`~stepsched_cli.cli.plot_cmd`,
:mod:`~stepsched_cli.cli.state_cmds`) holds the commands.
"""
