"""``python -m stepsched_cli``: the same as the ``stepsched`` command."""

from stepsched_cli.cli.app import main

if __name__ == "__main__":
    main()
