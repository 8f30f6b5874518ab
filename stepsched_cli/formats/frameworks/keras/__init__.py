"""Keras: its learning-rate schedules (:mod:`.schedule`) and the files Keras writes
(:mod:`.files`: ``.keras`` models, config.json, optimizer configs; :mod:`.legacy`: legacy
``.h5`` models)."""
