"""The training methods' registry (trainer.ml.methods) drives what the database, the API
and the pages take as a kind of run and of model version: a method registered later is
accepted, listed and used with no model change. Each method trains on snapshot kinds that
exist and has what the scheduled retraining needs."""

import pytest
from django.conf import settings
from django.urls import reverse

from config.errors import InputError
from jobs.models import JobStatus
from trainer.api_training import TrainingRunInputSerializer
from trainer.generation import generation_create
from trainer.ml.methods import (
    POLICY,
    TrainingMethod,
    method_register,
    method_unregister,
    training_method_choices,
    training_methods,
)
from trainer.models import ModelVersion, TrainingRun
from trainer.retraining import ROWS_ARRIVED_SINCE

METHODS = training_methods()
# Whichever app it lives in, the model of a run's snapshot.
DatasetSnapshot = TrainingRun._meta.get_field("snapshot").related_model


@pytest.fixture
def throwaway_method():
    """A policy method registered for one test only, as a new method's module would."""
    method = method_register(
        TrainingMethod(
            name="throwaway",
            label="Throwaway tuning",
            produces=POLICY,
            module="trainer.ml.sft",
            snapshot_kinds=("sft",),
            metrics=("validation_loss",),
            counters=("tokens",),
            retrain_setting="TRAINING_RETRAIN_MIN_DEMONSTRATIONS",
        )
    )
    yield method
    method_unregister(method.name)


def test_the_kind_fields_take_any_name_the_registry_allows():
    # No `choices` in the database's model: a new method needs no migration.
    assert not TrainingRun._meta.get_field("kind").choices
    assert not ModelVersion._meta.get_field("kind").choices
    assert TrainingRunInputSerializer().fields["kind"].choices == dict(training_method_choices())
    assert [name for name, _ in training_method_choices()] == [m.name for m in METHODS]


@pytest.mark.django_db
def test_the_api_refuses_a_run_of_a_kind_no_method_registered(api, carol):
    api.force_authenticate(carol)

    answer = api.post("/api/training-runs/", {"kind": "poetry"}, format="json")

    assert answer.status_code == 400
    assert "kind" in answer.json()
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_a_method_registered_later_is_queued_listed_and_generated_from(
    api, client, carol, throwaway_method, django_capture_on_commit_callbacks
):
    api.force_authenticate(carol)
    with django_capture_on_commit_callbacks(execute=False):
        answer = api.post("/api/training-runs/", {"kind": "throwaway"}, format="json")

    assert answer.status_code == 202, answer.json()
    assert answer.json()["kind"] == "throwaway"
    run = TrainingRun.objects.get(pk=answer.json()["id"])
    assert run.kind_label == "Throwaway tuning"
    client.force_login(carol)
    training_page = client.get(reverse("trainer-training-page"))
    assert 'value="throwaway"' in training_page.content.decode()

    # What its model versions are for comes from the registry: a policy to sample from.
    TrainingRun.objects.filter(pk=run.pk).update(status=JobStatus.SUCCEEDED, progress=1.0)
    version = ModelVersion.objects.create(
        kind="throwaway", run=run, path="runs/x/model", promoted=True
    )
    assert version.produces == POLICY
    assert api.get("/api/models/?kind=throwaway").json()[0]["kind"] == "throwaway"
    # Generation takes it as the promoted policy: it goes on to ask for prompts.
    with pytest.raises(InputError) as refused:
        generation_create(model=None, prompt_ids=[], created_by=carol)
    assert refused.value.field == "prompts"
    ModelVersion.objects.filter(pk=version.pk).update(promoted=False)
    with pytest.raises(InputError) as refused:
        generation_create(model=None, prompt_ids=[], created_by=carol)
    assert refused.value.field == "model"


@pytest.mark.parametrize("method", METHODS, ids=lambda method: method.name)
def test_each_method_trains_on_snapshot_kinds_that_exist(method):
    assert set(method.snapshot_kinds) <= set(DatasetSnapshot.Kind.values)


# A method with no retraining setting (RL, which starts from a model an admin chooses) is
# never scheduled.
@pytest.mark.parametrize(
    "method", [m for m in METHODS if m.retrain_setting], ids=lambda method: method.name
)
def test_each_method_can_be_retrained_on_schedule(method):
    assert isinstance(getattr(settings, method.retrain_setting), int)
    # Counted in the data its fresh export would read.
    assert method.snapshot_kinds[0] in ROWS_ARRIVED_SINCE
