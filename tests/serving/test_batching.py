"""Concurrent requests for one model decode together, and a seed still gives the same
reply whatever else shares the batch."""

import threading

from serving.engine import engine

from .conftest import QUESTION

CLIENTS = 8


def test_eight_clients_at_once_all_get_answers_from_shared_batches(openai_admin, sft):
    def ask(seed: int, question: list[dict[str, str]] = QUESTION) -> str:
        reply = openai_admin.chat.completions.create(
            model=sft.name, messages=question, max_tokens=12, seed=seed, temperature=1.0
        )
        assert reply.choices[0].finish_reason in ("stop", "length")
        return reply.choices[0].message.content

    alone = ask(11)  # also loads the model
    generator = engine.generator_for(sft)
    shared_before = generator.stats.shared_steps
    answers: dict[int, str] = {}
    start = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        start.wait()
        # Other prompts and seeds beside the one asked alone above.
        question = [{"role": "user", "content": f"What colour is stone {number}?"}]
        answers[number] = ask(11) if number == 0 else ask(100 + number, question)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(answers) == list(range(CLIENTS))
    assert generator.stats.shared_steps > shared_before
    assert generator.stats.largest_batch > 1
    assert answers[0] == alone
