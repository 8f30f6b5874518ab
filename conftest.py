"""Collection rules for the whole repository.

The framework drop-ins (``stepsched_cli.torch``, ``.keras``, ``.optax``) import their
framework at the top, as a module written for its users should; where the framework
is not installed (CI, the project's .venv) ``--doctest-modules`` must not import them.
Their tests live in tests/dropin/ and skip themselves the same way.
"""

from __future__ import annotations

import importlib.util

_NEEDS = {
    "stepsched_cli/torch.py": "torch",
    "stepsched_cli/keras.py": "keras",
    "stepsched_cli/optax.py": "jax",
}

collect_ignore = [
    path for path, module in _NEEDS.items() if importlib.util.find_spec(module) is None
]
