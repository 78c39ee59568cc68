"""The engine keeps SERVING_MODELS_KEPT models: room is made before a model loads, an idle
model leaves before a busy one, an unloaded one still answers what it was asked, and one
whose scheduler stopped is loaded again."""

import pytest
from django.test import override_settings

from serving.engine import engine
from trainer.ml.batched import BatchedGenerator, ChatRequest

from .conftest import QUESTION, version_of


@pytest.fixture
def versions(transactional_db, tiny_model_dir):
    # Versions of one folder are models of their own to the engine.
    return [version_of("sft", tiny_model_dir) for _ in range(3)]


def asked(generator: BatchedGenerator, *, max_tokens: int = 4):
    return generator.submit(
        ChatRequest(generator.prompt_ids(QUESTION), temperature=0, max_tokens=max_tokens)
    )


def answered(ticket) -> bool:
    pieces = list(ticket.stream(timeout_s=60))
    return sum(piece.finish_reason is not None for piece in pieces) == ticket.request.n


@override_settings(SERVING_MODELS_KEPT=1)
def test_room_is_made_before_a_model_loads_and_the_unloaded_one_still_answers(
    versions, monkeypatch
):
    loaded_while_loading: list[int] = []
    load = BatchedGenerator.__init__

    def counting_load(self, *args, **kwargs):
        loaded_while_loading.append(sum(g.alive for g in engine.loaded()))
        load(self, *args, **kwargs)

    monkeypatch.setattr(BatchedGenerator, "__init__", counting_load)
    first = engine.generator_for(versions[0])
    ticket = asked(first, max_tokens=8)

    second = engine.generator_for(versions[1])

    assert loaded_while_loading == [0, 0]
    assert engine.loaded() == [second]
    assert not first.alive
    assert answered(ticket)


@override_settings(SERVING_MODELS_KEPT=2, SERVING_MAX_BATCH=1)
def test_an_idle_model_is_unloaded_before_a_busy_one(versions):
    busy = engine.generator_for(versions[0])
    idle = engine.generator_for(versions[1])
    # One sequence a step: the later requests wait in the queue while the first decodes.
    tickets = [asked(busy, max_tokens=16) for _ in range(4)]

    third = engine.generator_for(versions[2])

    assert engine.loaded() == [busy, third]
    assert not idle.alive
    assert all(answered(ticket) for ticket in tickets)


def test_a_model_whose_scheduler_stopped_is_loaded_again(versions):
    stopped = engine.generator_for(versions[0])
    stopped.close()
    stopped._thread.join(timeout=30)

    again = engine.generator_for(versions[0])

    assert again is not stopped
    assert again.alive
    assert answered(asked(again))
