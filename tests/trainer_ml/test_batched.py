"""The batched decoder gives each request what it would get alone, whoever shares the
batch and whenever they join it."""

import threading

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaForCausalLM

from trainer.ml.batched import LENGTH, STOP, BatchedGenerator, ChatRequest
from trainer.ml.chat import tokenizer_train
from trainer.ml.modeling import model_save, tiny_config

from .conftest import colour_conversations

QUESTIONS = [
    "What colour is the river?",
    "What colour is the stone under the old bridge in the garden?",
    "Bird?",
    "What colour is the lamp by the window, and the clock beside it?",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tokenizer = tokenizer_train([m["content"] for c in colour_conversations(12) for m in c])
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("batched") / "model"
    model_save(LlamaForCausalLM(tiny_config(tokenizer, max_length=128)), tokenizer, folder)
    return folder


@pytest.fixture(scope="module")
def generator(model_dir):
    generator = BatchedGenerator(model_dir)
    yield generator
    generator.close()


def prompt(generator, question: str) -> list[int]:
    return generator.prompt_ids([{"role": "user", "content": question}])


def collected(pieces, n: int) -> tuple[list[str], list[str], list[int]]:
    texts, finishes, tokens = [""] * n, [""] * n, [0] * n
    for piece in pieces:
        texts[piece.index] += piece.text
        if piece.finish_reason:
            finishes[piece.index], tokens[piece.index] = (
                piece.finish_reason,
                piece.completion_tokens,
            )
    return texts, finishes, tokens


def reply(generator, request: ChatRequest) -> tuple[list[str], list[str], list[int]]:
    return collected(generator.submit(request).stream(timeout_s=60), request.n)


def test_greedy_replies_equal_transformers_generate(generator, model_dir, small_threads):
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = generator.tokenizer
    for question in QUESTIONS:
        ids = torch.tensor([prompt(generator, question)])
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=False,
            max_new_tokens=12,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        expected = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)

        texts, _finishes, _tokens = reply(
            generator, ChatRequest(prompt(generator, question), temperature=0, max_tokens=12)
        )

        assert texts == [expected]


def test_requests_joining_a_running_batch_get_what_they_get_alone(generator, small_threads):
    requests = [
        ChatRequest(prompt(generator, q), temperature=1.0, max_tokens=8 + 6 * i, seed=i, n=2)
        for i, q in enumerate(QUESTIONS)
    ]
    alone = [reply(generator, request) for request in requests]
    before = generator.stats.shared_steps
    together: dict[int, tuple] = {}

    def client(i: int) -> None:
        together[i] = reply(generator, requests[i])

    # The first is decoding before the others arrive: they join its batch.
    first = generator.submit(requests[0]).stream(timeout_s=60)
    started = [next(first)]
    threads = [threading.Thread(target=client, args=(i,)) for i in range(1, len(requests))]
    for thread in threads:
        thread.start()
    together[0] = collected([*started, *first], requests[0].n)
    for thread in threads:
        thread.join(timeout=120)

    assert generator.stats.shared_steps > before
    assert [together[i] for i in range(len(requests))] == alone
    for texts, finishes, _tokens in alone:
        assert len(set(texts)) == 2  # the n sequences sample apart
        assert set(finishes) <= {STOP, LENGTH}


def test_max_tokens_ends_a_reply_with_length(generator):
    _texts, finishes, tokens = reply(
        generator, ChatRequest(prompt(generator, "Bird?"), temperature=0, max_tokens=3)
    )

    assert finishes == [LENGTH] and tokens == [3]


def test_a_prompt_longer_than_the_model_reads_is_refused(generator):
    with pytest.raises(ValueError, match="at most"):
        generator.submit(ChatRequest([5] * generator.max_positions))
