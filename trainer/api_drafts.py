"""The drafts API (admins only): ask a model version or a model source for a draft reply
on each of a list of prompts, for labelers to start from."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdminRole
from sources.models import ModelSource
from trainer.drafts import drafts_create
from trainer.models import DraftJob, ModelVersion


class PromptsSamplingInputSerializer(serializers.Serializer):
    """What every job that samples one reply per prompt takes: the prompts by id or by
    filters, and how to sample."""

    prompts = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        allow_null=True,
    )
    filters = serializers.DictField(required=False, allow_null=True)
    temperature = serializers.FloatField(required=False, default=0.7)
    top_p = serializers.FloatField(required=False, default=0.95)


class DraftsInputSerializer(PromptsSamplingInputSerializer):
    source = serializers.PrimaryKeyRelatedField(
        queryset=ModelSource.objects.all(), required=False, allow_null=True
    )
    model = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.all(), required=False, allow_null=True
    )
    max_new_tokens = serializers.IntegerField(
        required=False, default=256, min_value=1, max_value=4096
    )


class DraftJobSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)

    class Meta:
        model = DraftJob
        fields = [
            "id",
            "status",
            "model",
            "source",
            "origin_name",
            "prompts",
            "temperature",
            "top_p",
            "max_new_tokens",
            "progress",
            "made",
            "failures",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


class DraftsView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(request=DraftsInputSerializer, responses={202: DraftJobSerializer})
    def post(self, request: Request) -> Response:
        payload = DraftsInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        job = drafts_create(
            model=data.get("model"),
            source=data.get("source"),
            prompt_ids=data.get("prompts"),
            filters=data.get("filters"),
            temperature=data["temperature"],
            top_p=data["top_p"],
            max_new_tokens=data["max_new_tokens"],
            created_by=request.user,
        )
        return Response(DraftJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class DraftJobView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses=DraftJobSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        return Response(DraftJobSerializer(get_object_or_404(DraftJob, pk=job_id)).data)
