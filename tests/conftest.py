"""Settings shared by the whole test suite."""

from __future__ import annotations

import os

from hypothesis import settings

# No per-example deadline: these machines are shared and timing is not what we test.
# CI derandomizes so a run is reproducible; local runs explore new examples each time.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
