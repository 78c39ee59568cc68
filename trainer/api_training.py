"""The training API: runs, model versions and generations (admins only)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdminRole
from config.query_params import choice_param
from dataset_io.models import DatasetSnapshot
from jobs.models import JobStatus
from sources.models import ModelSource
from trainer.generation import generation_create
from trainer.ml.methods import (
    POLICY,
    REWARD,
    method_kinds_producing,
    training_method_choices,
    training_methods,
)
from trainer.models import GenerationJob, ModelVersion, TrainingRun
from trainer.training import model_promote, training_run_cancel, training_run_create
from trainer.training_config import REWARD_MODEL_KEY


class TrainingKindField(serializers.ChoiceField):
    """A registered training method's name. The choices are read from the registry each
    time a serializer is made (DRF makes its fields anew then), so a method registered
    after this module was imported is allowed."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(choices=training_method_choices(), **kwargs)


class TrainingRunInputSerializer(serializers.Serializer):
    kind = TrainingKindField()
    snapshot = serializers.PrimaryKeyRelatedField(
        queryset=DatasetSnapshot.objects.all(), required=False, allow_null=True
    )
    base_model = serializers.CharField(required=False, allow_blank=True, default="")
    config = serializers.DictField(required=False, default=dict)


class ModelVersionSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)
    kind = TrainingKindField()
    # "policy" or "reward": what the method that made it makes, whichever method it was.
    produces = serializers.CharField(read_only=True, allow_null=True)
    parent = serializers.IntegerField(source="parent_id", read_only=True, allow_null=True)
    reward_model = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "name",
            "kind",
            "produces",
            "run",
            "snapshot",
            "guideline_versions",
            "base_model",
            "parent",
            "reward_model",
            "config",
            "metrics",
            "path",
            "promoted",
            "promoted_at",
            "created_at",
        ]

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_reward_model(self, version: ModelVersion) -> int | None:
        """The reward model an RL run optimized against, pinned when it was queued."""
        return version.config.get(REWARD_MODEL_KEY)


class TrainingRunSerializer(serializers.ModelSerializer):
    kind = TrainingKindField()
    model = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "kind",
            "status",
            "snapshot",
            "base_model",
            "config",
            "progress",
            "step",
            "total_steps",
            "eta_s",
            "metrics",
            "history",
            "logs",
            "attempts",
            "cancel_requested",
            "error",
            "model",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_model(self, run: TrainingRun) -> int | None:
        version = getattr(run, "model", None)
        return version.pk if version else None


class TrainingRunListSerializer(TrainingRunSerializer):
    class Meta(TrainingRunSerializer.Meta):
        # The list leaves out the long fields; a run's own page has them.
        fields = [f for f in TrainingRunSerializer.Meta.fields if f not in {"history", "logs"}]


class TrainingRunsView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses=TrainingRunListSerializer(many=True))
    def get(self, request: Request) -> Response:
        runs = TrainingRun.objects.select_related("model").order_by("-created_at")[:100]
        return Response(TrainingRunListSerializer(runs, many=True).data)

    @extend_schema(request=TrainingRunInputSerializer, responses={202: TrainingRunSerializer})
    def post(self, request: Request) -> Response:
        payload = TrainingRunInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        run = training_run_create(**payload.validated_data, created_by=request.user)
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunDetailView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses=TrainingRunSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        run = get_object_or_404(TrainingRun.objects.select_related("model"), pk=run_id)
        return Response(TrainingRunSerializer(run).data)


class TrainingRunCancelView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(request=None, responses=TrainingRunSerializer)
    def post(self, request: Request, run_id: int) -> Response:
        run = get_object_or_404(TrainingRun, pk=run_id)
        if run.status not in {TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING}:
            return Response(
                {"detail": f"The run is already {run.status}."}, status=status.HTTP_409_CONFLICT
            )
        return Response(TrainingRunSerializer(training_run_cancel(run=run)).data)


class ModelsView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, description="Only versions a method of this name made"),
            OpenApiParameter("produces", str, description="policy or reward: whichever method"),
        ],
        responses=ModelVersionSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        versions = ModelVersion.objects.all()
        kind = choice_param(request, "kind", [m.name for m in training_methods()])
        if kind:
            versions = versions.filter(kind=kind)
        produces = choice_param(request, "produces", [POLICY, REWARD])
        if produces:
            # "policy": every model that answers, whichever method made it.
            versions = versions.filter(kind__in=method_kinds_producing(produces))
        return Response(ModelVersionSerializer(versions[:200], many=True).data)


class ModelDetailView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses=ModelVersionSerializer)
    def get(self, request: Request, model_id: int) -> Response:
        return Response(ModelVersionSerializer(get_object_or_404(ModelVersion, pk=model_id)).data)


class ModelPromoteView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(request=None, responses=ModelVersionSerializer)
    def post(self, request: Request, model_id: int) -> Response:
        version = model_promote(version=get_object_or_404(ModelVersion, pk=model_id))
        return Response(ModelVersionSerializer(version).data)


class GenerationSourceSerializer(serializers.Serializer):
    source = serializers.PrimaryKeyRelatedField(queryset=ModelSource.objects.all())
    k = serializers.IntegerField(min_value=1, max_value=9)


class GenerationInputSerializer(serializers.Serializer):
    model = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.all(), required=False, allow_null=True
    )
    source = serializers.PrimaryKeyRelatedField(
        queryset=ModelSource.objects.all(),
        required=False,
        allow_null=True,
        help_text="A model source instead of a model: all K candidates from it",
    )
    sources = GenerationSourceSerializer(
        many=True,
        required=False,
        help_text='Mixed with the model\'s K: [{"source": id, "k": n}]',
    )
    prompts = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, allow_null=True
    )
    filters = serializers.DictField(required=False, allow_null=True)
    k = serializers.IntegerField(required=False, default=4)
    temperature = serializers.FloatField(required=False, default=0.8)
    top_p = serializers.FloatField(required=False, default=0.95)
    max_new_tokens = serializers.IntegerField(
        required=False, default=128, min_value=1, max_value=4096
    )
    overlap = serializers.IntegerField(required=False, default=3)
    best_of = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Sample this many replies per prompt (K to 16, all origins together) and "
        "keep the K the promoted reward model scores highest",
    )


class GenerationSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)
    reward_mean_sampled = serializers.FloatField(read_only=True, allow_null=True)
    reward_mean_kept = serializers.FloatField(read_only=True, allow_null=True)
    comparisons = serializers.SerializerMethodField()

    class Meta:
        model = GenerationJob
        fields = [
            "id",
            "status",
            "model",
            "sources",
            "prompts",
            "k",
            "temperature",
            "top_p",
            "max_new_tokens",
            "overlap",
            "best_of",
            "reward_model",
            "reward_mean_sampled",
            "reward_mean_kept",
            "rewards",
            "progress",
            "comparisons",
            "failures",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_comparisons(self, job: GenerationJob) -> list[int]:
        return [c for c in job.filed.values() if c]


class GenerationListSerializer(GenerationSerializer):
    """A generation in a list: without each sampled reply's reward or its comparisons."""

    class Meta(GenerationSerializer.Meta):
        fields = [
            f for f in GenerationSerializer.Meta.fields if f not in ("rewards", "comparisons")
        ]


class GenerationsView(APIView):
    permission_classes = [IsAdminRole]
    LISTED = 200

    @extend_schema(
        parameters=[OpenApiParameter("status", str, description="Only jobs in this status")],
        responses=GenerationListSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        """The generation jobs, newest first."""
        jobs = GenerationJob.objects.order_by("-id")
        wanted = choice_param(request, "status", JobStatus.values)
        if wanted:
            jobs = jobs.filter(status=wanted)
        return Response(GenerationListSerializer(jobs[: self.LISTED], many=True).data)

    @extend_schema(request=GenerationInputSerializer, responses={202: GenerationSerializer})
    def post(self, request: Request) -> Response:
        payload = GenerationInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        job = generation_create(
            model=data.get("model"),
            source=data.get("source"),
            sources=data.get("sources"),
            prompt_ids=data.get("prompts"),
            filters=data.get("filters"),
            k=data["k"],
            temperature=data["temperature"],
            top_p=data["top_p"],
            max_new_tokens=data["max_new_tokens"],
            overlap=data["overlap"],
            best_of=data.get("best_of"),
            created_by=request.user,
        )
        return Response(GenerationSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class GenerationDetailView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses=GenerationSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        return Response(GenerationSerializer(get_object_or_404(GenerationJob, pk=job_id)).data)
