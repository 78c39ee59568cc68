"""Encoder bases for reward models: sequences framed by the tokenizer's own [CLS] and
[SEP], and the score read at [CLS] or as the mean of the tokens, as the base was trained."""

import json

import pytest
from transformers import AutoModelForSequenceClassification

from trainer.ml.loop import TrainConfig, train
from trainer.ml.pooling import CLS, LAST, MEAN, POOLING_KEY
from trainer.ml.reward import Reward, RewardScorer

from .conftest import WORDS, lora_config, marker_groups
from .test_local_checkpoints import bert_base


def mean_pooled(folder) -> str:
    """`folder` made a sentence-transformers model that averages its tokens."""
    (folder / "1_Pooling").mkdir()
    settings = {"word_embedding_dimension": 64, "pooling_mode_mean_tokens": True}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(settings))
    return str(folder)


def test_an_encoder_sequence_starts_with_cls_kept_when_a_long_one_is_cut(tmp_path):
    groups = marker_groups(4, seed=31)
    groups[0].prompt[0]["content"] = " ".join(WORDS * 10)
    base = bert_base(tmp_path / "bert", groups, num_hidden_layers=1, max_position_embeddings=48)
    run = TrainConfig(output_dir=str(tmp_path / "rm"), base_model=base, checkpoint_every=0)

    method = Reward(run, groups)

    cls, sep = method.tokenizer.cls_token_id, method.tokenizer.sep_token_id
    assert method.pooling == CLS
    sequences = [s for g in method.train_set for s in g.sequences]
    assert all(s[0] == cls and s[-1] == sep for s in sequences)
    cut = method.train_set[0].sequences[0]
    assert len(cut) == 48  # the prompt's beginning went, [CLS] stayed
    assert cut.count(cls) == 1
    # The default decoder scores at the last token, unframed.
    decoder = Reward(TrainConfig(output_dir=str(tmp_path / "tiny")), groups[1:])
    assert decoder.pooling == LAST
    assert decoder.train_set[0].sequences[0][0] == decoder.tokenizer.convert_tokens_to_ids(
        "<|im_start|>"
    )


@pytest.mark.parametrize("pooling", [CLS, MEAN])
def test_an_encoder_reward_model_learns_and_scores_as_it_was_trained(
    tmp_path, small_threads, pooling
):
    groups = marker_groups(96, seed=32)
    base = bert_base(tmp_path / "bert", groups)
    if pooling == MEAN:
        mean_pooled(tmp_path / "bert")
    run = TrainConfig(str(tmp_path / "rm"), base, epochs=3, lr=2e-3, checkpoint_every=0)

    method = Reward(run, groups, marker_groups(24, seed=33))
    assert method.pooling == pooling
    result = train(method, run)

    assert result.metrics["eval"]["validation_accuracy"] > 0.8
    saved = json.loads((result.model_dir / "config.json").read_text())
    assert saved[POOLING_KEY] == pooling
    loaded = AutoModelForSequenceClassification.from_pretrained(result.model_dir)
    assert type(loaded).__name__ == "BertForSequenceClassification"
    scorer = RewardScorer(result.model_dir)
    assert scorer.pooling == pooling
    for group, encoded in zip(marker_groups(24, seed=33)[:3], method.validation_set, strict=False):
        expected = method.scores(encoded.sequences)
        for reply, score in zip(group.completions, expected, strict=True):
            assert scorer.sequence(group.prompt, reply[0]["content"]) in encoded.sequences
            assert scorer.score(group.prompt, reply[0]["content"]) == pytest.approx(
                float(score), abs=1e-4
            )


def test_a_mean_pooled_encoder_with_lora_trains_its_head_and_freezes_the_unread_pooler(
    tmp_path, small_threads
):
    groups = marker_groups(16, seed=34)
    bert_base(tmp_path / "bert", groups)
    base = mean_pooled(tmp_path / "bert")
    config = lora_config(tmp_path, base)

    method = Reward(config, groups)
    trainable = {n for n, p in method.module.named_parameters() if p.requires_grad}
    assert any("classifier" in n for n in trainable)
    assert not any("pooler" in n for n in trainable)
    head = method.model.classifier.modules_to_save["default"].weight.detach().clone()
    result = train(method, config)

    merged = AutoModelForSequenceClassification.from_pretrained(result.model_dir)
    assert not (merged.classifier.weight == head).all()
    scorer = RewardScorer(result.model_dir)
    first = groups[0]
    expected = method.scores(method.train_set[0].sequences[:1])
    reply = first.completions[0][0]["content"]
    assert scorer.score(first.prompt, reply) == pytest.approx(float(expected[0]), abs=1e-4)
