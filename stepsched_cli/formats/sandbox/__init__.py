"""The sandbox: reading untrusted pickles and zip archives without running anything.

The restricted unpickler (:mod:`.unpickler`, over :mod:`.opcodes`, :mod:`.bounds`,
:mod:`.nesting` and :mod:`.hashing`) and the zip rules (:mod:`.zip_archive`) every
reader of a ``torch.save`` or ``.keras`` file goes through.
"""
