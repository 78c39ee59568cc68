from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdminRole, IsReviewer
from labeling.models import Prompt
from labeling.validation import MAX_TIME_SPENT_S
from rankings.models import Comparison, Ranking
from rankings.selectors import agreement_report
from rankings.services import comparison_create, ranking_submit

MAX_ID = 2**63 - 1


class CandidateInputSerializer(serializers.Serializer):
    content = serializers.JSONField()
    model = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)
    sampling = serializers.DictField(required=False, default=dict)


class ComparisonInputSerializer(serializers.Serializer):
    prompt = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    candidates = serializers.ListField(child=CandidateInputSerializer())
    overlap = serializers.IntegerField(required=False, default=3)
    gold = serializers.JSONField(
        required=False, help_text="A known order of the candidates by index, best group first"
    )


class CandidateOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    content = serializers.CharField()
    model = serializers.CharField(source="model_name")


class ComparisonOutputSerializer(serializers.ModelSerializer):
    candidates = CandidateOutputSerializer(many=True, read_only=True)
    overlap = serializers.IntegerField(source="task.wanted")
    task = serializers.IntegerField(source="task_id")
    gold = serializers.BooleanField(source="is_gold")

    class Meta:
        model = Comparison
        fields = [
            "id",
            "task",
            "prompt",
            "candidates",
            "overlap",
            "gold",
            "ranking_count",
            "created_at",
        ]


class ComparisonCreateView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(request=ComparisonInputSerializer, responses={201: ComparisonOutputSerializer})
    def post(self, request: Request) -> Response:
        payload = ComparisonInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        prompt = Prompt.objects.filter(pk=data["prompt"]).first()
        if prompt is None:
            return Response({"prompt": [f"No prompt {data['prompt']}."]}, status=400)
        comparison = comparison_create(
            prompt=prompt,
            candidates=data["candidates"],
            overlap=data["overlap"],
            gold=data.get("gold"),
            created_by=request.user,
        )
        return Response(ComparisonOutputSerializer(comparison).data, status=status.HTTP_201_CREATED)


class RankingInputSerializer(serializers.Serializer):
    ranking = serializers.JSONField()
    flags = serializers.JSONField(required=False)
    likert = serializers.JSONField(required=False)
    all_bad = serializers.BooleanField(required=False, default=False)
    rationale = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=10_000
    )
    strength = serializers.JSONField(required=False)
    time_spent_s = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=MAX_TIME_SPENT_S
    )


class RankingOutputSerializer(serializers.ModelSerializer):
    guideline_version = serializers.IntegerField(source="guideline_version.number")

    class Meta:
        model = Ranking
        fields = [
            "id",
            "comparison",
            "ranking",
            "shown_order",
            "strength",
            "flags",
            "likert",
            "all_bad",
            "rationale",
            "time_spent_s",
            "guideline_version",
            "created_at",
        ]


class RankingCreateView(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(request=RankingInputSerializer, responses={201: RankingOutputSerializer})
    def post(self, request: Request, comparison_id: int) -> Response:
        payload = RankingInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        ranking, created = ranking_submit(
            rater=request.user,
            comparison_id=comparison_id,
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            **payload.validated_data,
        )
        return Response(
            RankingOutputSerializer(ranking).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ConsensusView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses={200: {"type": "object"}})
    def get(self, request: Request, comparison_id: int) -> Response:
        comparison = get_object_or_404(Comparison.objects.select_related("task"), pk=comparison_id)
        return Response(
            {
                "id": comparison.pk,
                "rankings": comparison.ranking_count,
                "overlap": comparison.task.wanted,
                "complete": comparison.ranking_count >= comparison.task.wanted,
                "ranked_pairs": comparison.consensus_ranked_pairs,
                "bradley_terry": comparison.consensus_bradley_terry,
                "agreement": comparison.agreement,
                "gold": comparison.gold_ranking or None,
            }
        )


class AgreementView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(
        parameters=[OpenApiParameter("guideline", str, required=False)],
        responses={200: {"type": "object"}},
    )
    def get(self, request: Request) -> Response:
        return Response(agreement_report(guideline_slug=request.query_params.get("guideline")))
