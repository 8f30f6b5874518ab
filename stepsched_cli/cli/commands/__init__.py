"""The commands, one module per command or group of commands, named after it.

``plan`` (``table``, ``at``, ``boundaries``), ``plot``, ``state`` (``init``,
``inspect``, ``validate``, ``convert``), ``code``, ``steps_per_epoch``, ``check``,
``solve`` and ``diff``.  Each module has a ``register(app)`` that adds its commands;
:data:`stepsched_cli.cli.app.COMMANDS` maps every command to its module, which is
imported only when that command runs.
"""
