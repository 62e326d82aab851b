"""What one sync fetched: API pages written as the files the importer reads, and the cursor to keep
once they are loaded."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmcore.connections.http import Fault


@dataclass
class Batch:
    """Files for the importer, the cursor after them, and the API items read."""

    folder: Path
    cursor: dict[str, Any]
    platform: str | None = None  # the slug the rows go to (canonical files name it)
    files: list[Path] = field(default_factory=list)
    items: int = 0

    def write(self, name: str, doc: object) -> None:
        """Keep one page as the file `name` for the import."""
        path = self.folder / name
        path.write_text(json.dumps(doc))
        self.files.append(path)


    def write_lines(self, name: str, rows: list[dict]) -> None:
        """Keep `rows` as the JSON Lines file `name` (the canonical format)."""
        path = self.folder / name
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        self.files.append(path)


def listed(doc: object, *keys: str) -> list[dict]:
    """The list of objects at `keys` in an API answer; a fault when the answer has another shape."""
    value = doc
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
        raise Fault(f"the answer has no list of objects at {'.'.join(keys)}")
    return value
