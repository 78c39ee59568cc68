"""The training methods' registry (trainer.ml.methods) and the database agree: each method
is a kind of run and of model version, trains on snapshot kinds that exist, and has what
the scheduled retraining needs."""

import pytest
from django.conf import settings

from trainer.ml.methods import training_methods
from trainer.models import ModelVersion, TrainingRun
from trainer.training import ROWS_ARRIVED_SINCE

METHODS = training_methods()
# Whichever app it lives in, the model of a run's snapshot.
DatasetSnapshot = TrainingRun._meta.get_field("snapshot").related_model


def test_every_registered_method_is_a_run_kind_and_every_run_kind_a_method():
    names = [method.name for method in METHODS]

    assert sorted(names) == sorted(TrainingRun.Kind.values)
    assert sorted(names) == sorted(ModelVersion.Kind.values)


@pytest.mark.parametrize("method", METHODS, ids=lambda method: method.name)
def test_each_method_trains_on_snapshot_kinds_that_exist(method):
    assert set(method.snapshot_kinds) <= set(DatasetSnapshot.Kind.values)


@pytest.mark.parametrize("method", METHODS, ids=lambda method: method.name)
def test_each_method_can_be_retrained_on_schedule(method):
    assert isinstance(getattr(settings, method.retrain_setting), int)
    # Counted in the data its fresh export would read.
    assert method.snapshot_kinds[0] in ROWS_ARRIVED_SINCE
