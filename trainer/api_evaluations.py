"""The evaluations API (admins only): a model version against a baseline, judged by the
reward model, a model source or people; the counts are computed when read."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdminRole
from config.errors import InputError
from trainer.api_drafts import PromptsSamplingInputSerializer
from trainer.evaluation_results import evaluation_detail, evaluation_tallies, evaluation_tally
from trainer.evaluations import evaluation_create
from trainer.models import EvaluationJob, ModelVersion


class EvaluationInputSerializer(PromptsSamplingInputSerializer):
    model = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
    baseline = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
    # "reward", "human" or a model source's id; the service says which it is.
    judge = serializers.JSONField()
    max_new_tokens = serializers.IntegerField(
        required=False, default=128, min_value=1, max_value=4096
    )
    overlap = serializers.IntegerField(required=False, default=1)


class EvaluationSerializer(serializers.ModelSerializer):
    """An evaluation and its counts; `detail` (each prompt's replies and outcome) only
    when the serializer is given `detail=True` in its context."""

    judge = serializers.SerializerMethodField()
    model_name = serializers.CharField(source="model.name", read_only=True)
    baseline_name = serializers.CharField(source="baseline.name", read_only=True)
    progress = serializers.FloatField(read_only=True)
    n = serializers.SerializerMethodField()
    wins = serializers.SerializerMethodField()
    ties = serializers.SerializerMethodField()
    losses = serializers.SerializerMethodField()
    pending = serializers.SerializerMethodField()
    win_rate = serializers.SerializerMethodField()
    ci95 = serializers.SerializerMethodField()
    detail = serializers.SerializerMethodField()

    class Meta:
        model = EvaluationJob
        fields = [
            "id",
            "status",
            "judge",
            "judge_name",
            "model",
            "model_name",
            "baseline",
            "baseline_name",
            "held_out",
            "prompts",
            "temperature",
            "top_p",
            "max_new_tokens",
            "overlap",
            "progress",
            "n",
            "wins",
            "ties",
            "losses",
            "pending",
            "win_rate",
            "ci95",
            "failures",
            "error",
            "detail",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def _tally(self, job: EvaluationJob):  # type: ignore[no-untyped-def]
        # Read once per job: the human judge's counts come from the comparisons.
        cache = self.context.setdefault("tallies", {})
        if job.pk not in cache:
            cache[job.pk] = evaluation_tally(job)
        return cache[job.pk]

    def get_judge(self, job: EvaluationJob) -> str | int | None:
        """As it was asked for: "reward", "human" or the model source's id (null once
        that source was deleted; judge_name still names it)."""
        return job.judge_source_id if job.judge == EvaluationJob.Judge.SOURCE else job.judge

    def get_n(self, job: EvaluationJob) -> int:
        return self._tally(job).n

    def get_wins(self, job: EvaluationJob) -> int:
        return self._tally(job).wins

    def get_ties(self, job: EvaluationJob) -> int:
        return self._tally(job).ties

    def get_losses(self, job: EvaluationJob) -> int:
        return self._tally(job).losses

    def get_pending(self, job: EvaluationJob) -> int:
        return self._tally(job).pending

    def get_win_rate(self, job: EvaluationJob) -> float | None:
        return self._tally(job).win_rate

    def get_ci95(self, job: EvaluationJob) -> list[float] | None:
        return self._tally(job).ci95

    def get_detail(self, job: EvaluationJob) -> list[dict] | None:
        if not self.context.get("detail"):
            return None
        return evaluation_detail(job, self._tally(job))


def evaluations_data(jobs) -> list[dict]:  # type: ignore[no-untyped-def]
    """A list of evaluations as the API answers it: the comparisons the human judge filed
    for all of them are read in one query, not one per evaluation."""
    jobs = list(jobs.select_related("model", "baseline"))
    return EvaluationSerializer(jobs, many=True, context={"tallies": evaluation_tallies(jobs)}).data


def _id_param(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise InputError(name, "A model version id.")
    return int(text)


class EvaluationsView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(
        parameters=[
            OpenApiParameter("model", int, description="Only evaluations of this version"),
            OpenApiParameter("baseline", int, description="Only those against this version"),
        ],
        responses=EvaluationSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        jobs = EvaluationJob.objects.all()
        for name in ("model", "baseline"):
            pk = _id_param(request, name)
            if pk is not None:
                jobs = jobs.filter(**{f"{name}_id": pk})
        return Response(evaluations_data(jobs[:200]))

    @extend_schema(request=EvaluationInputSerializer, responses={202: EvaluationSerializer})
    def post(self, request: Request) -> Response:
        payload = EvaluationInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        # The serializer's fields are the service's arguments, the prompt ids renamed.
        data = dict(payload.validated_data)
        job = evaluation_create(
            prompt_ids=data.pop("prompts", None), **data, created_by=request.user
        )
        return Response(EvaluationSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class EvaluationDetailView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses=EvaluationSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        job = get_object_or_404(
            EvaluationJob.objects.select_related("model", "baseline"), pk=job_id
        )
        return Response(EvaluationSerializer(job, context={"detail": True}).data)
