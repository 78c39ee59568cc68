"""/v1 chat completions through the real inference process, against the same model called
directly with transformers' `generate`, one request after another.

Registers a model version (a 57M Llama with fixed random weights, `--tiny` for the 5M
one, or `--model DIR`) in a database of its own, starts `gunicorn serving.wsgi` as
runstack does, then at each concurrency level runs clients that each send the same
streamed requests (same prompts, same max_tokens, temperature 1 with a seed per request),
timing requests and tokens per second and the time to the first token. After each level
the peer, the same directory loaded in this process, calls `model.generate` on the same
prompts one at a time: what one process without batching serves. The ratio is what
batching buys.

    .venv/bin/python benchmarks/serving.py                       # about a minute
    .venv/bin/python benchmarks/serving.py --model var/models/sft-3 --max-tokens 128
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

QUESTIONS = [
    "What colour is the river?",
    "How do I boil an egg so the yolk stays soft?",
    "Name three birds that sing at night.",
    "Why is the sky blue in the day and dark at night?",
    "Write one sentence about a quiet mountain.",
    "What is the difference between a lake and a pond?",
    "Give me a short tip for planting a tree.",
    "Which is heavier, a stone or a cloud?",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a saved causal LM directory; default a 57M Llama")
    parser.add_argument("--tiny", action="store_true", help="the 5M Llama instead")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels")
    parser.add_argument("--per-client", type=int, default=2, help="requests each client sends")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--peer-requests", type=int, default=8, help="after each level")
    # One by default: on a machine whose cores other work shares, two threads per process
    # ran a tiny model's step 100x slower than one (each waits on the other).
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both sides")
    return parser.parse_args()


def built_model(folder: Path, *, tiny: bool) -> Path:
    """A Llama with fixed random weights: the platform's tiny one (5M parameters), or by
    default one of 57M. At 5M a decoding step costs so little that HTTP and Python decide
    the figures; at 57M the model's own work does, as it does for any real model."""
    import torch
    from transformers import LlamaForCausalLM

    from trainer.ml.chat import tokenizer_train
    from trainer.ml.modeling import model_save, tiny_config

    tokenizer = tokenizer_train(QUESTIONS * 4)
    config = tiny_config(tokenizer, max_length=512)
    if not tiny:
        config.hidden_size, config.intermediate_size, config.num_hidden_layers = 768, 2048, 8
        config.num_attention_heads = config.num_key_value_heads = 12
    torch.manual_seed(0)
    model_save(LlamaForCausalLM(config), tokenizer, folder)
    return folder


def registered(model_dir: Path) -> tuple[str, str]:
    """A model version for `model_dir` and an admin's token: (version name, token)."""
    from accounts.services import user_create
    from accounts.tokens import token_issue
    from trainer.models import ModelVersion, TrainingRun

    admin = user_create(username="bench-admin", password="a-long-bench-password-1", roles=["admin"])
    run = TrainingRun.objects.create(kind="sft", status="succeeded")
    version = ModelVersion.objects.create(kind="sft", run=run, path=str(model_dir.resolve()))
    return version.name, token_issue(user=admin)[1]


def messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]


class Client:
    """Sends its requests one after another, each streamed, reading the events as they come."""

    def __init__(self, port: int, token: str, model: str, numbers: list[int], max_tokens: int):
        self.port, self.token, self.model = port, token, model
        self.numbers, self.max_tokens = numbers, max_tokens
        self.first_token_s: list[float] = []
        self.tokens = 0
        self.errors = 0

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        for number in self.numbers:
            body = {
                "model": self.model,
                "messages": messages(number),
                "max_tokens": self.max_tokens,
                "temperature": 1.0,
                "seed": number,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            started = time.perf_counter()
            conn.request(
                "POST",
                "/v1/chat/completions",
                body=json.dumps(body),
                headers={"Authorization": f"Bearer {self.token}"},
            )
            answer = conn.getresponse()
            if answer.status != 200:
                self.errors += 1
                answer.read()
                continue
            first = None
            for line in answer:
                if not line.startswith(b"data: {"):
                    continue
                chunk = json.loads(line[6:])
                if first is None and any(c["delta"].get("content") for c in chunk["choices"]):
                    first = time.perf_counter() - started
                if chunk.get("usage"):
                    self.tokens += chunk["usage"]["completion_tokens"]
            self.first_token_s.append(first if first is not None else float("nan"))
        conn.close()


def run_level(port: int, token: str, model: str, clients: int, args) -> dict[str, float]:
    senders = [
        Client(
            port,
            token,
            model,
            [c * args.per_client + i for i in range(args.per_client)],
            args.max_tokens,
        )
        for c in range(clients)
    ]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(Client.run, senders))
    elapsed = time.perf_counter() - started
    firsts = sorted(x for t in senders for x in t.first_token_s)
    return {
        "requests": len(firsts),
        "per_s": len(firsts) / elapsed,
        "tokens_per_s": sum(t.tokens for t in senders) / elapsed,
        "ttft_p50_ms": statistics.median(firsts) * 1000,
        "ttft_max_ms": firsts[-1] * 1000,
        "errors": sum(t.errors for t in senders),
    }


class Peer:
    """The same prompts through `model.generate`, one at a time, in this process."""

    def __init__(self, model_dir: Path, max_tokens: int):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).to(self.device).eval()
        self.max_tokens = max_tokens
        self.generate(0)  # warm up, as the server's untimed first request does

    def generate(self, number: int) -> int:
        import torch

        from trainer.ml.chat import conversation_encode

        tokenizer = self.tokenizer
        ids = conversation_encode(tokenizer, messages(number), generation_prompt=True)[0]
        ids = torch.tensor([ids], device=self.device)
        torch.manual_seed(number)
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                temperature=1.0,
                top_p=1.0,
                top_k=None,
                max_new_tokens=self.max_tokens,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        return out.shape[1] - ids.shape[1]

    def run(self, requests: int) -> dict[str, float]:
        started = time.perf_counter()
        tokens = sum(self.generate(n) for n in range(requests))
        elapsed = time.perf_counter() - started
        return {"per_s": requests / elapsed, "tokens_per_s": tokens / elapsed}


def wait_for(port: int, token: str, server: subprocess.Popen) -> None:
    for _ in range(600):
        if server.poll() is not None:
            raise SystemExit("the inference process exited during start-up")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/v1/models", headers={"Authorization": f"Bearer {token}"})
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the inference process did not start")


@dataclass
class Served:
    """The platform's own /v1 serving one model version, as runstack's inference process."""

    model_dir: Path
    port: int
    token: str
    model: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@contextlib.contextmanager
def own_server(model: str | None, *, tiny: bool, threads: int, prefix: str) -> Iterator[Served]:
    """A database and DATA_DIR of their own (SQLite, in a temporary folder), the model
    directory (`model`, else a built one) registered as a version, and `gunicorn
    serving.wsgi` started as runstack starts it; stopped on leaving."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    env = {
        **os.environ,
        "DATA_DIR": str(work),
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "true",
        "LOG_LEVEL": "ERROR",
        "OMP_NUM_THREADS": str(threads),
    }
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO_ROOT, env=env, check=True
    )
    import django

    django.setup()
    from config.processes import serving_command

    model_dir = Path(model) if model else built_model(work / "model", tiny=tiny)
    name, token = registered(model_dir)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        serving_command(bind=f"127.0.0.1:{port}", loglevel="warning"),
        cwd=REPO_ROOT,
        env=env,
    )
    try:
        wait_for(port, token, server)
        yield Served(model_dir, port, token, name)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    levels = [int(x) for x in args.clients.split(",")]
    results, direct = {}, {}
    with own_server(
        args.model, tiny=args.tiny, threads=args.threads, prefix="bench-serving-"
    ) as served:
        port, token, model, model_dir = served.port, served.token, served.model, served.model_dir
        peer = Peer(model_dir, args.max_tokens)
        # Loads the model and warms it up, untimed.
        run_level(port, token, model, 1, argparse.Namespace(per_client=1, max_tokens=4))
        for clients in levels:
            results[clients] = run_level(port, token, model, clients, args)
            # Right after each level, so both sides meet the same load from other work.
            direct[clients] = peer.run(args.peer_requests)

    print(
        f"model {model_dir}, max_tokens {args.max_tokens}, {args.threads} torch thread(s), "
        f"load {os.getloadavg()[0]:.2f}"
    )
    # Replies end at max_tokens or at the end-of-turn token, so their lengths differ a
    # little between the two sides: tokens per second is the fairer ratio.
    header = (
        "clients",
        "req/s",
        "tok/s",
        "TTFT p50 ms",
        "TTFT max ms",
        "errors",
        "generate tok/s",
        "req/s x",
        "tok/s x",
    )
    print("{:>7} {:>8} {:>8} {:>12} {:>12} {:>6} {:>15} {:>8} {:>8}".format(*header))
    for clients, r in results.items():
        d = direct[clients]
        print(
            f"{clients:>7} {r['per_s']:>8.2f} {r['tokens_per_s']:>8.1f} {r['ttft_p50_ms']:>12.1f} "
            f"{r['ttft_max_ms']:>12.1f} {r['errors']:>6} {d['tokens_per_s']:>15.1f} "
            f"{r['per_s'] / d['per_s']:>7.2f}x {r['tokens_per_s'] / d['tokens_per_s']:>7.2f}x"
        )
    print(f"generate: one request after another, {args.peer_requests} after each level")


if __name__ == "__main__":
    main()
