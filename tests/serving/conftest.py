"""A tiny generative model version to serve, the accounts that call it, and the OpenAI
client pointed at the live server's /v1."""

from pathlib import Path

import pytest
import torch
from openai import OpenAI
from transformers import LlamaForCausalLM

from accounts.services import user_create
from accounts.tokens import token_issue
from tests.conftest import PASSWORD
from trainer.ml.chat import tokenizer_train
from trainer.ml.modeling import model_save, tiny_config
from trainer.models import ModelVersion, TrainingRun

QUESTION = [{"role": "user", "content": "What colour is the river?"}]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """Untrained weights drawn from a fixed seed: replies are noise, but the same noise
    for the same seed, which is all these tests compare."""
    texts = ["What colour is the river?", "The river is blue.", "The stone is grey."] * 4
    tokenizer = tokenizer_train(texts)
    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_config(tokenizer, max_length=128))
    folder = tmp_path_factory.mktemp("serving") / "model"
    model_save(model, tokenizer, folder)
    return folder


def version_of(kind: str, folder: Path, *, promoted: bool = False) -> ModelVersion:
    run = TrainingRun.objects.create(kind=kind, status="succeeded")
    # An absolute path: DATA_DIR / path is the path itself.
    return ModelVersion.objects.create(kind=kind, run=run, path=str(folder), promoted=promoted)


@pytest.fixture
def sft(transactional_db, tiny_model_dir) -> ModelVersion:
    return version_of("sft", tiny_model_dir, promoted=True)


@pytest.fixture
def iris(transactional_db):
    """An account for programs: the inference role alone."""
    return user_create(username="iris", password=PASSWORD, roles=["inference"])


@pytest.fixture
def client_for(live_server):
    """OpenAI's client for a user, on the live server's /v1, with a token of theirs. Each
    is closed after the test: a kept-alive connection keeps its server thread, and that
    thread's database connection, open past the test database's end."""
    made: list[OpenAI] = []

    def make(user) -> OpenAI:
        _row, plain = token_issue(user=user)
        client = OpenAI(base_url=f"{live_server.url}/v1", api_key=plain, max_retries=0, timeout=120)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def openai_admin(client_for, carol) -> OpenAI:
    return client_for(carol)
