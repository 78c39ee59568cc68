"""The AI feedback API (admins only): run a model source or a model version as a rater
under a guideline, and read what it labelled."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdminRole
from ai_feedback.models import AICritique, AIFeedbackJob, AIRanking
from ai_feedback.services import ai_feedback_create
from config.parsers import CheckedJSONParser
from config.query_params import choice_param
from jobs.models import JobStatus
from sources.models import ModelSource
from trainer.models import ModelVersion

ID = {"min_value": 1, "max_value": 2**63 - 1}


class AIFeedbackInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=AIFeedbackJob.Kind.choices)
    guideline = serializers.SlugField()
    source = serializers.PrimaryKeyRelatedField(
        queryset=ModelSource.objects.all(), required=False, allow_null=True
    )
    model = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.all(), required=False, allow_null=True
    )
    comparisons = serializers.ListField(
        child=serializers.IntegerField(**ID), required=False, allow_null=True
    )
    prompts = serializers.ListField(
        child=serializers.IntegerField(**ID), required=False, allow_null=True
    )
    filters = serializers.DictField(required=False, allow_null=True)
    sections = serializers.ListField(
        child=serializers.CharField(max_length=300), required=False, allow_null=True
    )
    overlap = serializers.IntegerField(required=False, default=0, min_value=0)


class AIFeedbackJobSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)
    guideline = serializers.CharField(source="guideline_version.guideline.slug", read_only=True)
    guideline_version = serializers.IntegerField(source="guideline_version.number", read_only=True)

    class Meta:
        model = AIFeedbackJob
        fields = [
            "id",
            "kind",
            "status",
            "source",
            "model",
            "rater_name",
            "guideline",
            "guideline_version",
            "sections",
            "items",
            "overlap",
            "progress",
            "made",
            "failures",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


class AIRankingSerializer(serializers.ModelSerializer):
    class Meta:
        model = AIRanking
        fields = ["id", "comparison", "ranking", "made", "asked", "created_at"]


class AICritiqueSerializer(serializers.ModelSerializer):
    class Meta:
        model = AICritique
        fields = [
            "id",
            "prompt",
            "reply_kind",
            "reply_id",
            "reply",
            "principle",
            "critique",
            "revision",
            "comparison",
            "created_at",
        ]


class AIFeedbackDetailSerializer(AIFeedbackJobSerializer):
    rankings = AIRankingSerializer(many=True, read_only=True)
    critiques = AICritiqueSerializer(many=True, read_only=True)

    class Meta(AIFeedbackJobSerializer.Meta):
        fields = [*AIFeedbackJobSerializer.Meta.fields, "rankings", "critiques"]


class AIFeedbackView(APIView):
    permission_classes = [IsAdminRole]
    parser_classes = [CheckedJSONParser]
    # The newest this many.
    LISTED = 200

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, description="Only jobs of this kind"),
            OpenApiParameter("status", str, description="Only jobs in this status"),
        ],
        responses=AIFeedbackJobSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        """The AI feedback jobs, newest first."""
        jobs = AIFeedbackJob.objects.select_related("guideline_version__guideline").order_by("-id")
        kind = choice_param(request, "kind", AIFeedbackJob.Kind.values)
        if kind:
            jobs = jobs.filter(kind=kind)
        wanted = choice_param(request, "status", JobStatus.values)
        if wanted:
            jobs = jobs.filter(status=wanted)
        return Response(AIFeedbackJobSerializer(jobs[: self.LISTED], many=True).data)

    @extend_schema(request=AIFeedbackInputSerializer, responses={202: AIFeedbackJobSerializer})
    def post(self, request: Request) -> Response:
        payload = AIFeedbackInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        job = ai_feedback_create(
            kind=data["kind"],
            guideline=data["guideline"],
            source=data.get("source"),
            model=data.get("model"),
            comparisons=data.get("comparisons"),
            prompts=data.get("prompts"),
            filters=data.get("filters"),
            sections=data.get("sections"),
            overlap=data["overlap"],
            created_by=request.user,
        )
        return Response(AIFeedbackJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class AIFeedbackDetailView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses=AIFeedbackDetailSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        job = get_object_or_404(
            AIFeedbackJob.objects.select_related("guideline_version__guideline").prefetch_related(
                "rankings", "critiques"
            ),
            pk=job_id,
        )
        return Response(AIFeedbackDetailSerializer(job).data)
