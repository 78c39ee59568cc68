import json

from dataset_io.importing import import_run
from labeling.models import Demonstration, Prompt, Task
from rankings.models import Comparison, Ranking
from tests.datasets.conftest import FIXTURES, shared_file


def test_hh_rlhf_imports_every_well_formed_pair_and_names_the_bad_lines(queue_import):
    job = import_run(
        job_id=queue_import(shared_file("hh-rlhf-harmless-sample.jsonl"), "hh-rlhf").pk
    )

    assert job.status == "succeeded"
    assert job.lines_total == 1812
    assert job.counts["rankings"] == 1812
    assert job.errors == []
    assert Comparison.objects.filter(source="hh-rlhf").count() == 1812
    ranking = Ranking.objects.select_related("comparison").first()
    chosen, rejected = ranking.ranking
    assert len(chosen) == len(rejected) == 1
    # Imported prompts are not handed to labelers: they came with their replies.
    assert not Task.objects.filter(status="open").exists()


def test_hh_rlhf_splits_the_shared_prefix_from_the_final_replies(queue_import):
    shared = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Tell me a joke"
    line = json.dumps(
        {
            "chosen": shared + "\n\nAssistant: Why did the chicken...",
            "rejected": shared + "\n\nAssistant: No.",
        }
    )

    import_run(job_id=queue_import(line + "\n", "hh-rlhf").pk)

    prompt = Prompt.objects.get()
    assert prompt.messages == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tell me a joke"},
    ]
    comparison = Comparison.objects.get()
    winner = comparison.candidates.get(pk=Ranking.objects.get().ranking[0][0])
    assert winner.content == "Why did the chicken..."


def test_oasst_trees_give_212_ranked_groups_and_their_best_replies(queue_import):
    job = import_run(job_id=queue_import(shared_file("oasst-en-100-trees.jsonl"), "oasst").pk)

    assert job.status == "succeeded"
    assert job.errors == []
    assert job.counts["rankings"] == 212
    assert Comparison.objects.filter(source="oasst").count() == 212
    sizes = {c.candidates.count() for c in Comparison.objects.all()}
    assert min(sizes) >= 2 and max(sizes) <= 9
    assert (
        Demonstration.objects.filter(source="oasst", status="approved").count()
        == job.counts["demonstrations"]
    )


def test_alpaca_seed_tasks_become_approved_demonstrations(queue_import):
    job = import_run(job_id=queue_import(shared_file("alpaca-seed-tasks.jsonl"), "alpaca").pk)

    assert job.counts == {"demonstrations": 175, "lines_imported": 175}
    assert Demonstration.objects.filter(status="approved").count() == 175


def test_importing_the_same_file_twice_adds_nothing(queue_import):
    fixture = FIXTURES / "mixed-prompts.jsonl"
    import_run(job_id=queue_import(fixture, "prompts-jsonl").pk)
    before = Prompt.objects.count()

    again = import_run(job_id=queue_import(fixture, "prompts-jsonl").pk)

    assert Prompt.objects.count() == before
    assert again.counts["duplicate_lines"] == before


def test_bad_lines_are_reported_with_their_number_and_good_ones_kept(queue_import):
    job = import_run(job_id=queue_import(FIXTURES / "mixed-prompts.jsonl", "prompts-jsonl").pk)

    assert job.counts["prompts"] == 3
    assert job.errors == [
        {"line": 2, "reason": "not JSON: Expecting property name enclosed in double quotes"},
        {
            "line": 4,
            "reason": "messages[0]: Role must be one of system, user, assistant, not 'robot'.",
        },
        {"line": 6, "reason": "unknown category 'poetry'"},
    ]
    assert Task.objects.filter(kind="demonstration", status="open").count() == 3


def test_strict_imports_all_or_nothing(queue_import):
    job = import_run(
        job_id=queue_import(FIXTURES / "mixed-prompts.jsonl", "prompts-jsonl", strict=True).pk
    )

    assert job.status == "failed"
    assert job.error_count == 3
    assert not Prompt.objects.exists()


def test_candidates_become_comparisons_for_our_raters(queue_import):
    line = json.dumps(
        {
            "prompt": "Name a colour.",
            "overlap": 2,
            "candidates": [{"content": "Blue", "model": "a"}, {"content": "Seven", "model": "b"}],
        }
    )

    import_run(job_id=queue_import(line, "candidates-jsonl").pk)

    comparison = Comparison.objects.get()
    assert comparison.task.status == "open"
    assert comparison.task.wanted == 2
    assert comparison.source == "platform"


def test_a_job_runs_once_even_if_delivered_twice(queue_import):
    job = queue_import(FIXTURES / "mixed-prompts.jsonl", "prompts-jsonl")

    first = import_run(job_id=job.pk)
    second = import_run(job_id=job.pk)

    assert first is not None
    assert second is None


def test_hh_rlhf_lines_that_cannot_be_split_are_reported(queue_import):
    lines = [
        json.dumps(
            {"chosen": "\n\nHuman: A\n\nAssistant: x", "rejected": "\n\nHuman: B\n\nAssistant: y"}
        ),
        json.dumps(
            {
                "chosen": "\n\nHuman: A\n\nAssistant: same",
                "rejected": "\n\nHuman: A\n\nAssistant: same",
            }
        ),
        json.dumps({"chosen": "\n\nHuman: A", "rejected": "\n\nHuman: A"}),
        json.dumps(
            {
                "chosen": "preamble\n\nHuman: A\n\nAssistant: x",
                "rejected": "\n\nHuman: A\n\nAssistant: y",
            }
        ),
        json.dumps({"chosen": 3}),
    ]

    job = import_run(job_id=queue_import("\n".join(lines), "hh-rlhf").pk)

    assert [e["reason"] for e in job.errors] == [
        "chosen and rejected differ before the final Assistant turn",
        "chosen and rejected final replies are the same text",
        "chosen does not end on an Assistant turn",
        "text before the first \\n\\nHuman: turn",
        'needs "chosen" and "rejected" transcripts',
    ]
    assert not Comparison.objects.exists()


def test_consecutive_turns_of_one_speaker_are_merged(queue_import):
    line = json.dumps(
        {
            "chosen": "\n\nHuman: Hi\n\nHuman: Are you there?\n\nAssistant: Yes.",
            "rejected": "\n\nHuman: Hi\n\nHuman: Are you there?\n\nAssistant: No.",
        }
    )

    import_run(job_id=queue_import(line, "hh-rlhf").pk)

    assert Prompt.objects.get().messages == [{"role": "user", "content": "Hi\n\nAre you there?"}]
