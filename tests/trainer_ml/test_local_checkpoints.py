"""Starting from a model directory on disk, as a deployment with a real checkpoint does.
The checkpoints here are small ones the tests save themselves."""

import math

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    BertConfig,
    BertForMaskedLM,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from trainer.ml.chat import IM_START, tokenizer_train
from trainer.ml.loop import TrainConfig, train
from trainer.ml.modeling import attends_only_backwards
from trainer.ml.reward import Reward, RewardScorer
from trainer.ml.sft import SFT

from .conftest import WORDS, colour_conversations, marker_groups


def foreign_llama(folder):
    """A Llama checkpoint whose tokenizer has never heard of our turn tokens."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(
        [" ".join(WORDS)] * 3,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="</s>")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return len(tokenizer)


def test_sft_starts_from_a_local_llama_and_gives_its_tokenizer_the_turn_tokens(tmp_path):
    base = tmp_path / "base"
    vocabulary = foreign_llama(base)
    config = TrainConfig(
        output_dir=str(tmp_path / "run"),
        base_model=str(base),
        batch_size=4,
        max_steps=8,
        checkpoint_every=0,
        log_every=4,
    )

    result = train(SFT(config, colour_conversations(8)), config)

    saved = AutoModelForCausalLM.from_pretrained(result.model_dir)
    assert saved.get_input_embeddings().num_embeddings == vocabulary + 4
    assert saved.config.hidden_size == 64  # the checkpoint's own shape, not the default's


def test_a_reward_model_starts_from_a_saved_sft_model(tmp_path):
    sft_config = TrainConfig(
        output_dir=str(tmp_path / "sft"), batch_size=4, max_steps=4, checkpoint_every=0
    )
    sft = train(SFT(sft_config, colour_conversations(8)), sft_config)
    config = TrainConfig(
        output_dir=str(tmp_path / "rm"),
        base_model=str(sft.model_dir),
        batch_size=8,
        max_steps=4,
        checkpoint_every=0,
    )

    method = Reward(config, marker_groups(32, seed=11))
    sft_weights = AutoModelForCausalLM.from_pretrained(sft.model_dir).state_dict()
    # The body comes from the SFT model; only the score head is new.
    torch.testing.assert_close(
        method.model.model.embed_tokens.weight, sft_weights["model.embed_tokens.weight"]
    )
    result = train(method, config)
    assert result.metrics["eval"]["train_pairs"] == 32 * 3


def bert_base(folder, groups, **config) -> str:
    """A small BERT-like checkpoint with a tokenizer trained on the groups' words, and
    BERT's own [CLS] and [SEP]."""
    texts = [m["content"] for g in groups for c in g.completions for m in c]
    tokenizer = tokenizer_train(texts, vocab_size=400)
    tokenizer.add_special_tokens({"cls_token": "[CLS]", "sep_token": "[SEP]"})
    shape = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, **config}
    bert = BertConfig(
        vocab_size=len(tokenizer),
        num_attention_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        **shape,
    )
    BertForMaskedLM(bert).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_an_encoder_checkpoint_is_trained_with_its_attention_mask(tmp_path, small_threads):
    groups = marker_groups(96, seed=12)
    base = bert_base(tmp_path / "bert", groups)
    run = TrainConfig(
        output_dir=str(tmp_path / "rm"),
        base_model=str(base),
        batch_size=8,
        epochs=3,
        lr=2e-3,
        checkpoint_every=0,
    )

    method = Reward(run, groups, marker_groups(24, seed=13))
    assert not attends_only_backwards(method.model)
    assert method.tokenizer.convert_tokens_to_ids(IM_START) != method.tokenizer.unk_token_id
    result = train(method, run)

    assert result.metrics["eval"]["validation_accuracy"] > 0.8
    loaded = AutoModelForSequenceClassification.from_pretrained(result.model_dir)
    assert type(loaded).__name__ == "BertForSequenceClassification"


def test_an_encoder_with_few_positions_trains_and_scores_within_them(tmp_path, small_threads):
    # A BERT-like base knows 48 positions; the run asks for the default 256. Training,
    # evaluation and scoring all use 48, saved with the model, and a reply longer than the
    # encoder can read loses its beginning instead of failing the scorer.
    groups = marker_groups(32, seed=21)
    base = bert_base(tmp_path / "bert", groups, num_hidden_layers=1, max_position_embeddings=48)
    run = TrainConfig(
        output_dir=str(tmp_path / "rm"), base_model=base, batch_size=8, checkpoint_every=0
    )
    assert run.max_length > 48

    method = Reward(run, groups)
    assert method.max_length == 48
    result = train(method, run)

    scorer = RewardScorer(result.model_dir)
    assert scorer.max_length == 48
    long_reply = " ".join(WORDS * 20)
    assert len(scorer.tokenizer(long_reply)["input_ids"]) > 48
    assert math.isfinite(scorer.score([{"role": "user", "content": "the river"}], long_reply))
