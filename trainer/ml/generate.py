"""Sampling replies from a saved SFT model: K per prompt, with temperature and top-p.

    python -m trainer.ml.generate --model runs/sft-1/model --prompts prompts.jsonl --k 4

prompts.jsonl holds `{"prompt": [messages]}` (or `{"messages": [...]}`) lines; each
output line is `{"prompt": [...], "completions": [text, ...]}`."""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from trainer.ml.chat import Message, conversation_encode, reply_text
from trainer.ml.data import jsonl_read
from trainer.ml.sampling import Sampling


def prompt_seed(seed: int, prompt: Sequence[Message]) -> int:
    """The seed one prompt is sampled with: the run's seed mixed with the prompt itself.

    Reseeding with the run's seed alone gave every prompt the same noise; mixing in the
    prompt gives each its own, while the same prompt and seed still sample the same
    replies wherever the prompt sits in a list. A SHA-256 of the messages, not hash(),
    which Python salts per process."""
    text = json.dumps([seed, list(prompt)], sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 2**63


class Generator:
    def __init__(self, model_dir: str | Path):
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).to(device).eval()

    def prompt_ids(self, prompt: Sequence[Message]) -> list[int]:
        return conversation_encode(self.tokenizer, prompt, generation_prompt=True)[0]

    @torch.no_grad()
    def sample(self, prompt: Sequence[Message], sampling: Sampling) -> list[str]:
        """K replies to one prompt. Temperature 0 means greedy decoding (all K equal)."""
        torch.manual_seed(prompt_seed(sampling.seed, prompt))
        ids = torch.tensor([self.prompt_ids(prompt)], device=self.model.device)
        greedy = sampling.temperature == 0.0
        options = {} if greedy else {"temperature": sampling.temperature, "top_p": sampling.top_p}
        out = self.model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=not greedy,
            num_return_sequences=1 if greedy else sampling.k,
            max_new_tokens=sampling.max_new_tokens,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
            top_k=None,
            **options,
        )
        replies = [reply_text(self.tokenizer, row[ids.shape[1] :].tolist()) for row in out]
        return replies * sampling.k if greedy else replies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.ml.generate")
    parser.add_argument("--model", required=True, help="saved SFT model directory")
    parser.add_argument("--prompts", required=True)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sampling = Sampling(args.k, args.temperature, args.top_p, args.max_new_tokens, args.seed)
    generator = Generator(args.model)
    for row in jsonl_read(args.prompts):
        prompt = row.get("prompt") or row["messages"]
        print(json.dumps({"prompt": prompt, "completions": generator.sample(prompt, sampling)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
