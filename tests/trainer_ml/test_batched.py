"""The batched decoder gives each request what it would get alone, whoever shares the
batch and whenever they join it."""

import queue
import threading

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaForCausalLM

from trainer.ml.batched import LENGTH, STOP, BatchedGenerator, ChatRequest
from trainer.ml.chat import cut_character_dropped, tokenizer_train
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
        decoded = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
        # Stopped at 12 tokens, a reply may end inside a character: that half is dropped.
        expected = cut_character_dropped(decoded)

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


@pytest.fixture
def own_generator(model_dir):
    """A generator a test may close or break: one sequence per step, so that a second
    request surely waits in the queue while the first decodes."""
    generator = BatchedGenerator(model_dir, max_batch=1)
    yield generator
    generator.close()


def test_closing_still_answers_what_was_queued_and_refuses_what_comes_after(own_generator):
    asked = [
        own_generator.submit(ChatRequest(prompt(own_generator, q), temperature=0, max_tokens=4))
        for q in QUESTIONS[:2]
    ]

    own_generator.close()

    for ticket in asked:
        _texts, finishes, _tokens = collected(ticket.stream(timeout_s=60), 1)
        assert finishes[0] in {STOP, LENGTH}
    with pytest.raises(RuntimeError, match="unloaded"):
        own_generator.submit(ChatRequest(prompt(own_generator, "Bird?")))


class _QueueClosedWhilePutting(queue.Queue):
    """A submit caught between its check and its put while the generator is closed:
    the put waits until the scheduler has stopped, or could not stop."""

    generator: BatchedGenerator

    def put(self, item, block=True, timeout=None):
        threading.Thread(target=self.generator.close).start()
        self.generator._thread.join(timeout=2)
        super().put(item, block, timeout)


def test_a_request_queued_as_the_generator_closes_is_answered(own_generator):
    waiting = _QueueClosedWhilePutting()
    waiting.generator = own_generator
    own_generator._waiting = waiting

    ticket = own_generator.submit(ChatRequest(prompt(own_generator, "Bird?"), max_tokens=3))

    _texts, finishes, _tokens = collected(ticket.stream(timeout_s=30), 1)
    assert finishes[0] in {STOP, LENGTH}


def test_a_failing_scheduler_fails_its_requests_and_stops_taking_more(own_generator, monkeypatch):
    def broken_admit(active):
        # Once the request is queued or decoding (the admit running when the patch
        # lands may already have taken it).
        while not active and own_generator._waiting.empty():
            threading.Event().wait(0.01)
        raise RuntimeError("broken admit")

    monkeypatch.setattr(own_generator, "_admit", broken_admit)
    ticket = own_generator.submit(ChatRequest(prompt(own_generator, "Bird?"), max_tokens=3))

    with pytest.raises(RuntimeError, match="broken admit"):
        list(ticket.stream(timeout_s=30))
    own_generator._thread.join(timeout=30)
    assert not own_generator.alive
    with pytest.raises(RuntimeError, match="unloaded"):
        own_generator.submit(ChatRequest(prompt(own_generator, "Bird?")))


def test_a_request_that_cannot_be_admitted_hears_why_and_others_go_on(own_generator, monkeypatch):
    sequences = own_generator._sequences

    def refusing(ticket):
        if ticket.request.max_tokens == 2:
            raise RuntimeError("cannot seed")
        return sequences(ticket)

    monkeypatch.setattr(own_generator, "_sequences", refusing)
    refused = own_generator.submit(ChatRequest(prompt(own_generator, "Bird?"), max_tokens=2))

    with pytest.raises(RuntimeError, match="cannot seed"):
        list(refused.stream(timeout_s=30))
    _texts, finishes, _tokens = reply(
        own_generator, ChatRequest(prompt(own_generator, "Bird?"), temperature=0, max_tokens=3)
    )
    assert finishes[0] in {STOP, LENGTH}
