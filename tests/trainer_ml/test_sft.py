import pytest
import torch
from transformers import AutoModelForCausalLM

from trainer.ml.generate import Generator, Sampling
from trainer.ml.loop import TrainConfig, train
from trainer.ml.sft import SFT

from .conftest import colour_conversations


def sft_config(tmp_path, **overrides) -> TrainConfig:
    settings = dict(
        output_dir=str(tmp_path / "run"),
        batch_size=4,
        max_steps=150,
        lr=1e-3,
        log_every=10,
        checkpoint_every=0,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def test_the_loss_on_assistant_tokens_equals_the_models_own_masked_loss(tmp_path):
    method = SFT(sft_config(tmp_path), colour_conversations(6))
    batch = [0, 3, 5]
    labels = []
    for i in batch:
        item = method.train_set[i]
        labels.append([t if on else -100 for t, on in zip(item.ids, item.trained, strict=True)])
    ids, mask, rows, cols = method._tensors([method.train_set[i] for i in batch])
    width = ids.shape[1]
    padded = torch.tensor([row + [-100] * (width - len(row)) for row in labels])

    ours = method.module(ids, mask, rows, cols) / method.units(batch)
    theirs = method.model(input_ids=ids, attention_mask=mask, labels=padded).loss

    assert float(ours.detach()) == pytest.approx(float(theirs), rel=1e-5)


def test_sft_learns_the_demonstrated_replies_and_reloads_from_its_folder(tmp_path, small_threads):
    conversations = colour_conversations(12)
    config = sft_config(tmp_path)
    method = SFT(config, conversations)
    before = {k: v.clone() for k, v in method.model.state_dict().items()}

    result = train(method, config)

    losses = [r["loss"] for r in result.history if "loss" in r]
    assert losses[-1] < losses[0] / 3
    after = method.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    reloaded = AutoModelForCausalLM.from_pretrained(result.model_dir)
    assert reloaded.config.vocab_size == len(method.tokenizer)
    generator = Generator(result.model_dir)
    prompt = conversations[6][:2]
    replies = generator.sample(prompt, Sampling(k=2, temperature=0.0, max_new_tokens=24))
    assert replies == ["The lamp is yellow."] * 2
    sampled = generator.sample(prompt, Sampling(k=3, temperature=1.0, top_p=0.9))
    assert len(sampled) == 3


def test_sampling_settings_out_of_range_are_refused():
    with pytest.raises(ValueError, match="top_p"):
        Sampling(top_p=0.0)
    with pytest.raises(ValueError, match="k is"):
        Sampling(k=0)
