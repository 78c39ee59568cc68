"""Chat rendering: the special tokens that mark each turn, and a tokenizer that knows them.

A conversation is rendered as

    <|im_start|>user<|im_sep|>How do I ...<|im_end|><|im_start|>assistant<|im_sep|>You ...<|im_end|>

The same layout is stored as the tokenizer's Jinja `chat_template`, so TRL, vLLM and
`tokenizer.apply_chat_template` render exactly what our trainers trained on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

# What a tokenizer decodes the bytes of an unfinished UTF-8 character into.
INCOMPLETE = "\ufffd"
# The bytes of a UTF-8 character a reply can stop inside of: all of a 4-byte one but one.
MAX_CUT_BYTES = 3

IM_START = "<|im_start|>"
IM_SEP = "<|im_sep|>"
IM_END = "<|im_end|>"
PAD = "<|pad|>"
TURN_TOKENS = [IM_START, IM_SEP, IM_END]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '<|im_sep|>' + message['content'] + '<|im_end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant<|im_sep|>' }}{% endif %}"
)

Message = dict[str, str]


def tokenizer_train(texts: Iterable[str], *, vocab_size: int = 4096) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer learned from `texts`, with the turn tokens built in.

    Byte-level means any text, in any script, encodes without unknown tokens; learning
    the merges from the training data itself is what lets the default model be built
    with no download. The merges depend only on the texts, so the same data gives the
    same tokenizer."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    learner = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, *TURN_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, learner)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe)
    return tokenizer_prepare(tokenizer)


def tokenizer_prepare(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Give any tokenizer (ours or a downloaded model's) the turn tokens, a padding token
    of its own and our chat template. Returns how many tokens it gained via `len()`:
    the caller resizes the model's embeddings to match."""
    missing = [t for t in TURN_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    # A padding token distinct from every real one: the reward model finds the last
    # real token of a row as the last one that is not padding.
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        tokenizer.add_special_tokens({"pad_token": PAD})
    tokenizer.eos_token = IM_END
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.padding_side = "right"
    return tokenizer


@dataclass(frozen=True)
class TurnIds:
    start: int
    sep: int
    end: int

    @classmethod
    def of(cls, tokenizer: PreTrainedTokenizerBase) -> TurnIds:
        ids = tokenizer.convert_tokens_to_ids(TURN_TOKENS)
        return cls(*ids)


def conversation_encode(
    tokenizer: PreTrainedTokenizerBase,
    messages: Sequence[Message],
    *,
    generation_prompt: bool = False,
) -> tuple[list[int], list[bool]]:
    """Token ids of a rendered conversation, and for each whether it is trained on:
    an assistant's content and the `<|im_end|>` that closes it (so the model learns to
    stop), never the user's or system's words nor the turn headers.

    Each piece is encoded on its own; because the turn tokens are special, the tokenizer
    splits there anyway, so the ids equal those of `apply_chat_template(tokenize=True)`."""
    turn = TurnIds.of(tokenizer)
    ids: list[int] = []
    trained: list[bool] = []
    for message in messages:
        header = [turn.start, *_encode(tokenizer, message["role"]), turn.sep]
        body = [*_encode(tokenizer, message["content"]), turn.end]
        ids += header + body
        is_assistant = message["role"] == "assistant"
        trained += [False] * len(header) + [is_assistant] * len(body)
    if generation_prompt:
        header = [turn.start, *_encode(tokenizer, "assistant"), turn.sep]
        ids += header
        trained += [False] * len(header)
    return ids, trained


def _encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False) if text else []


def reply_text(tokenizer: PreTrainedTokenizerBase, ids: Sequence[int]) -> str:
    """A generated reply's text: special tokens dropped, stripped, and without a character
    cut short at the end (see `cut_character_dropped`)."""
    return cut_character_dropped(tokenizer.decode(list(ids), skip_special_tokens=True)).strip()


def cut_character_dropped(text: str) -> str:
    """`text` without the replacement marks that end it where a reply stopped at its token
    limit inside a multi-byte character. An unfinished UTF-8 character is at most 3 bytes,
    which a byte-level tokenizer (GPT-2's, ours) decodes into one mark and a byte-fallback
    one (Llama 2's, Mistral's) into one per byte: so up to 3 trailing marks go. Marks
    before them are bytes the model wrote wrong, and stay."""
    kept = text.rstrip(INCOMPLETE)
    return kept if len(text) - len(kept) <= MAX_CUT_BYTES else text[:-MAX_CUT_BYTES]


def conversation_texts(conversations: Iterable[Sequence[Message]]) -> Iterator[str]:
    for messages in conversations:
        for message in messages:
            # The role names too, so that turn headers become single tokens.
            yield message["role"]
            yield message["content"]
