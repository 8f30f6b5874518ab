"""The options several commands share, each declared once, split by concern.

* :mod:`~stepsched_cli.cli.options.parameters`: the one map from a library parameter
  to its option (``step_size`` to ``--step-size``), and the usage errors that name it.
* :mod:`~stepsched_cli.cli.options.groups`: how a group of options is declared once
  and added to every command that has it (:class:`~stepsched_cli.cli.options.groups.OptionGroup`,
  :func:`~stepsched_cli.cli.options.groups.with_options`), and the help panels.
* :mod:`~stepsched_cli.cli.options.units`: position and units (``--mode``,
  ``--steps-per-epoch``, ``--total``, ``--epochs``).
* :mod:`~stepsched_cli.cli.options.pipeline`: the data pipeline (``--dataset-size``,
  ``--batch-size``, ...) and the steps per epoch it gives.
* :mod:`~stepsched_cli.cli.options.schedule`: the schedule (``--lr``, ``--step-size``,
  ..., ``--state``) and the validated :class:`~stepsched_cli.planning.Plan` it gives.
* :mod:`~stepsched_cli.cli.options.output`: what is printed and where (``--format``,
  ``--json``, ``--output``, ``--force``).

Each module imports only those listed before it.
"""
