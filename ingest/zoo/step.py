"""One model of a zoo plan: its op, parents and arguments, so its true parent is known by construction."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Step:
    """One model of the plan. `args` holds the op's arguments (specs as dataclasses)."""

    name: str
    op: str  # base | finetune | lora | distill | merge | gguf | quantize
    parents: tuple[str, ...] = ()
    args: dict[str, Any] = field(default_factory=dict, hash=False)
    tags: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"zoo/{self.name}"

    @property
    def path(self) -> str:
        return f"{self.name}.gguf" if self.op in ("gguf", "quantize") else self.name

    def fingerprint(self) -> str:
        blob = json.dumps({"op": self.op, "parents": self.parents,
                           "args": {k: asdict(v) if hasattr(v, "__dataclass_fields__") else v
                                    for k, v in self.args.items()}}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()
