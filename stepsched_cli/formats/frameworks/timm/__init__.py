"""timm: its step schedulers (:mod:`.schedule`), the files a timm user has
(:mod:`.files`) and what a ``torch.save`` checkpoint holds for timm (:mod:`.checkpoint`)."""
