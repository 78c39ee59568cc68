"""A model version trained with LoRA is served like any other: its folder's merged model
answers /v1, whole and streamed."""

import pytest

from tests.trainer_ml.conftest import colour_conversations, lora_config, small_checkpoint
from trainer.ml.loop import train
from trainer.ml.lora import ADAPTER_DIR
from trainer.ml.sft import SFT

from .conftest import version_of


@pytest.fixture(scope="module")
def lora_sft_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lora-served")
    base = small_checkpoint(folder / "base", "llama")
    config = lora_config(folder, base, max_steps=2)
    return train(SFT(config, colour_conversations(8)), config).model_dir


def test_a_lora_sft_version_answers_chat_completions_whole_and_streamed(openai_admin, lora_sft_dir):
    assert (lora_sft_dir / ADAPTER_DIR).is_dir()
    version = version_of("sft", lora_sft_dir)
    options = {
        "model": version.name,
        "messages": colour_conversations(1)[0][:2],
        "max_tokens": 6,
        "temperature": 0,
    }

    whole = openai_admin.chat.completions.create(**options)
    streamed = "".join(
        choice.delta.content or ""
        for chunk in openai_admin.chat.completions.create(**options, stream=True)
        for choice in chunk.choices
    )

    assert whole.model == version.name
    assert whole.choices[0].message.role == "assistant"
    assert whole.usage.completion_tokens > 0
    assert streamed == whole.choices[0].message.content
