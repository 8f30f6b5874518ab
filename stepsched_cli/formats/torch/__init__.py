"""torch: state dicts as JSON and ``torch.save`` checkpoints.

A checkpoint read flows container -> search -> state dict: :mod:`.container` loads
the file's object through the sandbox, :mod:`.search` finds and chooses a scheduler
state, :mod:`.state_dict` (StepLR, MultiStepLR) and :mod:`.sequential` (SequentialLR)
parse it, :mod:`.views` turns it into a reading; :mod:`.writer` writes state dicts and
:mod:`.optimizer_file` reads an optimizer saved apart.
"""
