"""optax: its staircase schedules (:mod:`.schedule`) and the ``code --framework optax``
snippet (:mod:`.snippet`)."""
