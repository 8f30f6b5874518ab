"""Other frameworks' schedules: timm, Keras and optax, one folder or module each.

Each framework has its schedule model (its parameters and exact arithmetic) and the
readers of the files it writes; :mod:`.common` holds what they share.
"""
