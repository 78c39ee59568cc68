"""The model sources API (admins only): register, list, edit, delete and check servers."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdminRole
from sources.models import ModelSource
from sources.services import source_check, source_create, source_delete, source_update


class SourceInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    base_url = serializers.CharField(max_length=500)
    model = serializers.CharField(max_length=200)
    api_key = serializers.CharField(
        required=False, allow_blank=True, max_length=500, trim_whitespace=False, write_only=True
    )
    max_concurrency = serializers.IntegerField(required=False, min_value=1, max_value=64)
    timeout_s = serializers.FloatField(required=False, min_value=1, max_value=3600)


class SourceOutputSerializer(serializers.ModelSerializer):
    # Whether a key is set, never the key.
    has_api_key = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)

    class Meta:
        model = ModelSource
        fields = [
            "id",
            "name",
            "base_url",
            "model",
            "has_api_key",
            "max_concurrency",
            "timeout_s",
            "created_by",
            "created_at",
        ]

    def get_has_api_key(self, source: ModelSource) -> bool:
        return bool(source.api_key)


class SourceCheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    latency_ms = serializers.IntegerField()
    detail = serializers.CharField()


class SourcesView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses=SourceOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        sources = ModelSource.objects.select_related("created_by")
        return Response(SourceOutputSerializer(sources, many=True).data)

    @extend_schema(request=SourceInputSerializer, responses={201: SourceOutputSerializer})
    def post(self, request: Request) -> Response:
        payload = SourceInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        source = source_create(created_by=request.user, **payload.validated_data)
        return Response(SourceOutputSerializer(source).data, status=status.HTTP_201_CREATED)


class SourceDetailView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses=SourceOutputSerializer)
    def get(self, request: Request, source_id: int) -> Response:
        return Response(SourceOutputSerializer(get_object_or_404(ModelSource, pk=source_id)).data)

    @extend_schema(request=SourceInputSerializer(partial=True), responses=SourceOutputSerializer)
    def patch(self, request: Request, source_id: int) -> Response:
        source = get_object_or_404(ModelSource, pk=source_id)
        payload = SourceInputSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        source = source_update(source=source, **payload.validated_data)
        return Response(SourceOutputSerializer(source).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, source_id: int) -> Response:
        source_delete(source=get_object_or_404(ModelSource, pk=source_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SourceCheckView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(request=None, responses=SourceCheckSerializer)
    def post(self, request: Request, source_id: int) -> Response:
        check = source_check(source=get_object_or_404(ModelSource, pk=source_id))
        return Response(SourceCheckSerializer(check).data)
