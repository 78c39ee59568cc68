from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from trainer.ml.chat import (
    IM_END,
    IM_SEP,
    IM_START,
    conversation_encode,
    cut_character_dropped,
    reply_text,
    tokenizer_prepare,
    tokenizer_train,
)

from .conftest import colour_conversations

CONVERSATION = colour_conversations(3)[2]


def test_encoding_matches_the_saved_chat_template(tmp_path):
    tokenizer = tokenizer_train([m["content"] for m in CONVERSATION] * 5, vocab_size=300)
    tokenizer.save_pretrained(tmp_path)
    reloaded = PreTrainedTokenizerFast.from_pretrained(tmp_path)

    ids, _ = conversation_encode(tokenizer, CONVERSATION, generation_prompt=True)
    templated = reloaded.apply_chat_template(
        CONVERSATION, tokenize=True, add_generation_prompt=True, return_dict=False
    )

    assert ids == list(templated)
    text = reloaded.decode(ids)
    assert text.startswith(f"{IM_START}system{IM_SEP}Answer in one sentence.{IM_END}")
    assert text.endswith(f"{IM_START}assistant{IM_SEP}")


def test_only_the_assistant_reply_and_its_end_are_trained_on():
    tokenizer = tokenizer_train([m["content"] for m in CONVERSATION] * 5, vocab_size=300)

    ids, trained = conversation_encode(tokenizer, CONVERSATION)

    taught = tokenizer.decode([i for i, t in zip(ids, trained, strict=True) if t])
    assert taught == f"The cloud is white.{IM_END}"


def test_a_foreign_tokenizer_gains_turn_tokens_and_its_own_padding():
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(
        ["plain text only"],
        trainers.BpeTrainer(
            vocab_size=280,
            special_tokens=["</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    foreign = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="</s>", pad_token="</s>")
    size_before = len(foreign)

    prepared = tokenizer_prepare(foreign)

    assert len(prepared) == size_before + 4  # three turn tokens and a padding token
    assert prepared.pad_token_id not in prepared.convert_tokens_to_ids([IM_START, IM_SEP, IM_END])
    assert prepared.eos_token == IM_END
    ids, _ = conversation_encode(prepared, CONVERSATION)
    assert prepared.convert_tokens_to_ids(IM_START) in ids


def test_a_reply_cut_inside_a_character_drops_the_half_not_shows_a_replacement_mark():
    tokenizer = tokenizer_train(["plain words only"] * 5, vocab_size=300)
    ids = tokenizer("le café", add_special_tokens=False)["input_ids"]
    # "é" is two bytes, and a tokenizer that never saw it keeps them two tokens.
    assert tokenizer.decode(ids[:-1]).endswith("\ufffd")

    assert reply_text(tokenizer, ids[:-1]) == "le caf"
    assert reply_text(tokenizer, ids) == "le café"
    # Bytes the model got wrong before the cut are its own, and stay.
    assert reply_text(tokenizer, [ids[-1], *ids[:-1]]).startswith("\ufffd")
    # A byte-fallback tokenizer decodes each byte of the cut character into a mark.
    assert cut_character_dropped("le caf" + "\ufffd" * 2) == "le caf"
    assert cut_character_dropped("le caf" + "\ufffd" * 5) == "le caf" + "\ufffd" * 2
