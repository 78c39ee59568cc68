"""The model versions /v1 serves: every one whose training method makes a policy."""

from __future__ import annotations

from serving.errors import ModelNotFound
from trainer.ml.methods import POLICY, method_kinds_producing
from trainer.models import ModelVersion

PROMOTED = "promoted"


def servable_models() -> list[ModelVersion]:
    return list(ModelVersion.objects.filter(kind__in=method_kinds_producing(POLICY)))


def servable_model(name: object) -> ModelVersion:
    """The version named `name` ("sft-3"), or the newest promoted policy for "promoted"."""
    kinds = method_kinds_producing(POLICY)
    versions = ModelVersion.objects.filter(kind__in=kinds)
    if name == PROMOTED:
        version = versions.filter(promoted=True).order_by("-promoted_at").first()
        if version is None:
            raise ModelNotFound("No generative model is promoted.", param="model")
        return version
    kind, _, number = str(name).rpartition("-")
    version = None
    # isascii: isdigit() holds for "²" too, which int() refuses.
    if kind in kinds and number.isascii() and number.isdigit():
        version = versions.filter(kind=kind, pk=int(number)).first()
    if version is None:
        raise ModelNotFound(
            f"The model {name!r} does not exist: GET /v1/models lists them.", param="model"
        )
    return version
