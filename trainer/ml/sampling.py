"""How replies are sampled: checked where the request arrives, used where the model runs.

No torch here: the web process validates a generation or playground request with this
class without loading any model library (trainer.ml.generate imports it from here)."""

from __future__ import annotations

from dataclasses import dataclass

# What one request to the inference process's /v1 may ask for (serving.completions); a
# generation checks its model version's share against them before it is queued.
# Tokens across a request's n choices: the decoding it can cost.
MAX_TOTAL_TOKENS = 32_768
# OpenAI's bound: past it sampling is noise.
MAX_TEMPERATURE = 2.0


@dataclass(frozen=True)
class Sampling:
    k: int = 4
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        # Each message starts with the field's name: callers report it as the field in error.
        if not 1 <= self.k <= 16:
            raise ValueError("k is between 1 and 16.")
        if not 0.0 <= self.temperature <= 5.0:
            raise ValueError("temperature is between 0 and 5.")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError("top_p is above 0 and at most 1.")
