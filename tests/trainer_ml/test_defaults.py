"""The defaults that follow the base model: the tiny model trained from scratch takes large
steps, a pretrained base small ones, a large pretrained base smaller still."""

import json

import pytest
from transformers import BertConfig, BertForMaskedLM, LlamaConfig, LlamaForCausalLM

from trainer.ml.cli import arguments_parse, config_from_args
from trainer.ml.defaults import (
    FROM_SCRATCH_LR,
    LARGE_PRETRAINED_LR,
    PRETRAINED_LR,
    base_defaults,
    parameters_estimated,
)
from trainer.ml.loop import TrainConfig
from trainer.ml.methods import training_method

# The config.json sizes of models people pass as bases, with their real parameter counts.
MINILM_L6 = {
    "model_type": "bert",
    "hidden_size": 384,
    "num_hidden_layers": 6,
    "intermediate_size": 1536,
    "num_attention_heads": 12,
    "vocab_size": 30522,
    "max_position_embeddings": 512,
    "hidden_act": "gelu",
}  # 22.7M
QWEN25_05B = {
    "model_type": "qwen2",
    "hidden_size": 896,
    "num_hidden_layers": 24,
    "intermediate_size": 4864,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "hidden_act": "silu",
    "tie_word_embeddings": True,
}  # 494M
LLAMA32_1B = {
    "model_type": "llama",
    "hidden_size": 2048,
    "num_hidden_layers": 16,
    "intermediate_size": 8192,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "rope_theta": 500000.0,
    "hidden_act": "silu",
    "tie_word_embeddings": True,
}  # 1.24B


def config_dir(folder, config: dict) -> str:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def saved(model, folder) -> int:
    """Saves `model`'s config only (the estimate must not need weights); its real size."""
    model.config.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def test_the_tiny_model_trained_from_scratch_keeps_the_high_rate():
    assert base_defaults("") == {"lr": FROM_SCRATCH_LR} == {"lr": 5e-4}


def test_a_small_llama_and_a_small_bert_are_estimated_from_their_config_alone(tmp_path):
    llama = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=300,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
        )
    )
    bert = BertForMaskedLM(
        BertConfig(
            vocab_size=400,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=2,
        )
    )
    llama_size = saved(llama, tmp_path / "llama")
    bert_size = saved(bert, tmp_path / "bert")

    assert not list((tmp_path / "llama").glob("*.safetensors"))
    # Norms are all a Llama has beyond the estimate; BERT adds biases and its heads.
    assert parameters_estimated(tmp_path / "llama") == pytest.approx(llama_size, rel=0.01)
    assert parameters_estimated(tmp_path / "bert") == pytest.approx(bert_size, rel=0.1)
    assert base_defaults(str(tmp_path / "llama")) == {"lr": PRETRAINED_LR} == {"lr": 5e-5}
    assert base_defaults(str(tmp_path / "bert")) == {"lr": PRETRAINED_LR}


@pytest.mark.parametrize(
    ("config", "parameters", "lr"),
    [
        (MINILM_L6, 22.7e6, PRETRAINED_LR),
        (QWEN25_05B, 494e6, PRETRAINED_LR),
        (LLAMA32_1B, 1.24e9, LARGE_PRETRAINED_LR),
    ],
)
def test_real_model_sizes_pick_the_rate_for_their_size(tmp_path, config, parameters, lr):
    base = config_dir(tmp_path / "base", config)

    assert parameters_estimated(tmp_path / "base") == pytest.approx(parameters, rel=0.05)
    assert base_defaults(base) == {"lr": lr}


def test_a_base_without_a_readable_config_counts_as_a_small_pretrained_one(tmp_path):
    assert base_defaults(str(tmp_path / "missing")) == {"lr": PRETRAINED_LR}
    assert base_defaults(config_dir(tmp_path / "odd", {"model_type": "x"})) == {"lr": PRETRAINED_LR}
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    assert parameters_estimated(tmp_path / "broken") is None


def test_a_run_config_takes_its_base_default_unless_the_lr_is_given(tmp_path):
    big = config_dir(tmp_path / "big", LLAMA32_1B)

    assert TrainConfig.from_dict({"output_dir": "x"}).lr == FROM_SCRATCH_LR
    assert TrainConfig.from_dict({"output_dir": "x", "base_model": big}).lr == LARGE_PRETRAINED_LR
    given = TrainConfig.from_dict({"output_dir": "x", "base_model": big, "lr": 1e-3})
    assert given.lr == 1e-3


def test_the_command_line_fills_the_same_default_and_a_set_lr_wins(tmp_path):
    method = training_method("sft")
    base = config_dir(tmp_path / "base", MINILM_L6)
    argv = ["--train", "t.jsonl", "--output-dir", str(tmp_path / "run"), "--base-model", base]

    plain = config_from_args(arguments_parse(method, argv), method.config_type())
    given = config_from_args(
        arguments_parse(method, [*argv, "--set", "lr=1e-4"]), method.config_type()
    )

    assert plain.lr == PRETRAINED_LR
    assert given.lr == 1e-4
