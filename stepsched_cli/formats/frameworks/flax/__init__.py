"""flax: its msgpack files (:mod:`.msgpack`, the bounded decoder; :mod:`.reader`, what
optax state they hold, named in a one-line refusal)."""
