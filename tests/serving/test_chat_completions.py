"""/v1 through OpenAI's own client against the live server: the models listed, replies
whole, their options (n, seed, stop, max_tokens) and usage."""

import openai
import pytest
from django.test import override_settings

from .conftest import QUESTION, version_of


def test_the_models_list_has_every_generative_version_and_no_reward_model(
    openai_admin, sft, tiny_model_dir
):
    version_of("reward", tiny_model_dir)

    listed = openai_admin.models.list()

    assert [model.id for model in listed.data] == [sft.name]
    assert listed.data[0].object == "model"


def test_a_reply_runs_to_max_tokens_and_counts_its_tokens(openai_admin, sft):
    reply = openai_admin.chat.completions.create(
        model=sft.name, messages=QUESTION, max_tokens=5, temperature=0
    )

    assert reply.object == "chat.completion"
    assert reply.model == sft.name
    assert reply.id.startswith("chatcmpl-")
    [choice] = reply.choices
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "length"
    assert reply.usage.completion_tokens == 5
    assert reply.usage.prompt_tokens > 5
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 5


def test_the_same_seed_gives_the_same_n_replies(openai_admin, sft):
    def ask(seed: int):
        reply = openai_admin.chat.completions.create(
            model="promoted", messages=QUESTION, max_tokens=8, n=3, seed=seed, temperature=1.0
        )
        return [choice.message.content for choice in reply.choices]

    first = ask(7)

    assert len(first) == 3
    assert len(set(first)) > 1  # each of the n samples its own reply
    assert ask(7) == first
    assert ask(8) != first


def test_a_stop_string_cuts_the_reply_before_it(openai_admin, sft):
    def ask(**options):
        return openai_admin.chat.completions.create(
            model=sft.name, messages=QUESTION, max_tokens=12, temperature=0, **options
        ).choices[0]

    whole = ask().message.content
    stop = whole[4:6]
    assert stop

    cut = ask(stop=[stop, "never in it"])

    assert cut.finish_reason == "stop"
    assert cut.message.content == whole[: whole.index(stop)]


@pytest.mark.parametrize(
    "options",
    [
        {"temperature": 5},
        {"n": 0},
        {"max_tokens": "many"},
        {"n": 16, "max_tokens": 4096},  # more tokens than one request may cost
        {"stop": [""]},
        {"messages": [{"role": "assistant", "content": "Hi"}]},
    ],
)
def test_bad_input_is_a_400_in_openais_shape(openai_admin, sft, options):
    request = {"model": sft.name, "messages": QUESTION, **options}

    with pytest.raises(openai.BadRequestError) as refused:
        openai_admin.chat.completions.create(**request)

    assert refused.value.status_code == 400
    assert refused.value.body["type"] == "invalid_request_error"


def test_a_message_longer_than_a_labeler_may_write_is_bounded_by_the_models_context(
    openai_admin, sft, settings
):
    def refusal(text: str) -> str:
        with pytest.raises(openai.BadRequestError) as refused:
            openai_admin.chat.completions.create(
                model=sft.name, messages=[{"role": "user", "content": text}]
            )
        return refused.value.body["message"]

    # A guideline and every reply in an AI rater's question run past what one labeler's
    # message may hold: the model's context is the limit a request meets, and a prompt
    # far beyond it is refused before the tokenizer reads it.
    longest = "The river is blue. " * (settings.LABELING_MAX_CHARS // 19 + 100)
    assert len(longest) > settings.LABELING_MAX_CHARS
    assert "more than the 511 tokens this model reads" in refusal(longest)
    # Within that bound, the tokens are counted.
    assert "this model reads at most 511" in refusal("The river is blue. " * 500)


def test_an_unknown_model_is_a_404(openai_admin, sft, tiny_model_dir):
    reward = version_of("reward", tiny_model_dir)

    for name in ["sft-999", "sft-²", "no-such-model", reward.name]:
        with pytest.raises(openai.NotFoundError) as refused:
            openai_admin.chat.completions.create(model=name, messages=QUESTION)
        assert refused.value.body["code"] == "model_not_found"


def test_a_model_whose_files_are_gone_is_a_503_that_names_no_path(openai_admin, tmp_path, caplog):
    gone = tmp_path / "runs" / "deleted-by-hand"
    version = version_of("sft", gone)

    with pytest.raises(openai.InternalServerError) as refused:
        openai_admin.chat.completions.create(model=version.name, messages=QUESTION)

    assert refused.value.status_code == 503
    assert refused.value.body["code"] == "inference_unavailable"
    assert version.name in refused.value.body["message"]
    # The host's directories are the inference process's log's business, not a caller's.
    assert str(tmp_path) not in refused.value.body["message"]
    assert str(gone) in caplog.text


def test_the_inference_role_may_call_v1(client_for, sft, iris):
    reply = client_for(iris).chat.completions.create(
        model=sft.name, messages=QUESTION, max_tokens=2
    )

    assert reply.choices[0].finish_reason in ("stop", "length")


def test_content_as_a_list_of_text_parts_reads_as_the_joined_text(openai_admin, sft):
    def ask(content) -> tuple[str, int]:
        answer = openai_admin.chat.completions.create(
            model=sft.name,
            messages=[{"role": "user", "content": content}],
            max_tokens=6,
            temperature=0,
        )
        return answer.choices[0].message.content, answer.usage.prompt_tokens

    parts = [{"type": "text", "text": "What colour "}, {"type": "text", "text": "is the river?"}]

    # A tiny model may answer anything alike, so the prompt's token count tells too: every
    # part read, joined with nothing between them.
    assert ask(parts) == ask("What colour is the river?")
    assert ask(parts)[1] > ask(parts[:1])[1]


def test_top_p_zero_keeps_only_the_most_likely_token(openai_admin, sft):
    def ask(**options) -> str:
        return (
            openai_admin.chat.completions.create(
                model=sft.name, messages=QUESTION, max_tokens=6, **options
            )
            .choices[0]
            .message.content
        )

    assert ask(top_p=0, temperature=1.0, seed=4) == ask(temperature=0)


def test_a_whole_answer_past_the_deadline_is_a_504_and_a_stream_is_not_held_to_it(
    openai_admin, sft
):
    with override_settings(SERVING_DEADLINE_S=0):
        with pytest.raises(openai.InternalServerError) as refused:
            openai_admin.chat.completions.create(model=sft.name, messages=QUESTION, max_tokens=5)
        streamed = list(
            openai_admin.chat.completions.create(
                model=sft.name, messages=QUESTION, max_tokens=5, stream=True
            )
        )

    assert refused.value.status_code == 504
    assert refused.value.body["code"] == "timeout"
    assert streamed[-1].choices[0].finish_reason in ("stop", "length")
