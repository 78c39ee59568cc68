"""Each prompt is sampled with its own noise, reproducible from the run's seed."""

import pytest
import torch
from transformers import LlamaForCausalLM

from trainer.ml.chat import tokenizer_train
from trainer.ml.generate import Generator, Sampling, prompt_seed
from trainer.ml.modeling import model_save, tiny_config

from .conftest import colour_conversations

FIRST = [{"role": "user", "content": "What colour is the river?"}]
SECOND = [{"role": "user", "content": "What colour is the stone?"}]


@pytest.fixture(scope="module")
def flat_model(tmp_path_factory) -> Generator:
    """A tiny model with every weight zero: its logits are equal for every token and
    every prompt, so whatever differs between two prompts' samples is the noise."""
    texts = [m["content"] for c in colour_conversations(12) for m in c]
    tokenizer = tokenizer_train(texts)
    model = LlamaForCausalLM(tiny_config(tokenizer, max_length=64))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    folder = tmp_path_factory.mktemp("flat") / "model"
    model_save(model, tokenizer, folder)
    return Generator(folder)


def test_the_derived_seed_is_stable_and_differs_by_prompt_and_seed():
    # A fixed number: a per-process salted hash would change it from run to run.
    assert prompt_seed(7, FIRST) == prompt_seed(7, [dict(FIRST[0])])
    assert prompt_seed(7, FIRST) == 7397109705774900288
    assert prompt_seed(7, FIRST) != prompt_seed(7, SECOND)
    assert prompt_seed(7, FIRST) != prompt_seed(8, FIRST)


def test_different_prompts_with_one_seed_get_different_noise(flat_model, small_threads):
    sampling = Sampling(k=3, temperature=1.0, top_p=1.0, max_new_tokens=8, seed=11)

    first = flat_model.sample(FIRST, sampling)
    second = flat_model.sample(SECOND, sampling)

    assert first != second


def test_a_prompt_samples_the_same_alone_and_after_another(flat_model, small_threads):
    sampling = Sampling(k=3, temperature=1.0, top_p=1.0, max_new_tokens=8, seed=11)

    alone = flat_model.sample(SECOND, sampling)
    listed = [flat_model.sample(prompt, sampling) for prompt in (FIRST, SECOND)]

    assert listed[1] == alone
    other_seed = Sampling(k=3, temperature=1.0, top_p=1.0, max_new_tokens=8, seed=12)
    assert flat_model.sample(SECOND, other_seed) != alone
