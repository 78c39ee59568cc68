from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdminRole
from accounts.roles import Role, user_has_role
from guidelines.diff import unified_diff, version_pair_from_query
from guidelines.markdown import render_markdown
from guidelines.models import Guideline, GuidelineVersion
from guidelines.selectors import (
    acknowledgement_table,
    guideline_list_with_current,
    version_visible,
)
from guidelines.services import (
    acknowledgement_create,
    guideline_create,
    version_draft_create,
    version_draft_update,
    version_publish,
    version_retire,
)

MAX_BODY_CHARS = 500_000


def version_get_for(request: Request, slug: str, number: int) -> GuidelineVersion:
    """The version, or 404: drafts do not exist for anyone but admins."""
    is_admin = user_has_role(request.user, Role.ADMIN)
    return get_object_or_404(
        version_visible(is_admin=is_admin), guideline__slug=slug, number=number
    )


class GuidelineSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    slug = serializers.SlugField(max_length=64)
    title = serializers.CharField(max_length=200)
    current_version = serializers.IntegerField(
        source="current_number", read_only=True, allow_null=True
    )

    def validate_slug(self, value: str) -> str:
        if Guideline.objects.filter(slug=value).exists():
            raise serializers.ValidationError("A guideline with this slug exists.")
        return value


class VersionSerializer(serializers.Serializer):
    guideline = serializers.CharField(source="guideline.slug", read_only=True)
    number = serializers.IntegerField(read_only=True)
    status = serializers.CharField(read_only=True)
    summary = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")
    body = serializers.CharField(max_length=MAX_BODY_CHARS, trim_whitespace=False)
    html = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    # Null until the version is published (retired).
    published_at = serializers.DateTimeField(read_only=True, allow_null=True)
    retired_at = serializers.DateTimeField(read_only=True, allow_null=True)

    def validate_body(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("The body is empty.")
        return value


class GuidelineListCreateView(APIView):
    def get_permissions(self):  # type: ignore[no-untyped-def]
        return [IsAdminRole()] if self.request.method == "POST" else [IsAuthenticated()]

    @extend_schema(responses=GuidelineSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(GuidelineSerializer(guideline_list_with_current(), many=True).data)

    @extend_schema(request=GuidelineSerializer, responses={201: GuidelineSerializer})
    def post(self, request: Request) -> Response:
        payload = GuidelineSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        guideline = guideline_create(**payload.validated_data)
        guideline.current_number = None
        return Response(GuidelineSerializer(guideline).data, status=status.HTTP_201_CREATED)


class VersionListCreateView(APIView):
    def get_permissions(self):  # type: ignore[no-untyped-def]
        return [IsAdminRole()] if self.request.method == "POST" else [IsAuthenticated()]

    @extend_schema(responses=VersionSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        get_object_or_404(Guideline, slug=slug)
        is_admin = user_has_role(request.user, Role.ADMIN)
        versions = version_visible(is_admin=is_admin).filter(guideline__slug=slug)
        return Response(VersionSerializer(versions, many=True).data)

    @extend_schema(request=VersionSerializer, responses={201: VersionSerializer})
    def post(self, request: Request, slug: str) -> Response:
        guideline = get_object_or_404(Guideline, slug=slug)
        payload = VersionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        version = version_draft_create(
            guideline=guideline, author=request.user, **payload.validated_data
        )
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class VersionDetailView(APIView):
    def get_permissions(self):  # type: ignore[no-untyped-def]
        return [IsAdminRole()] if self.request.method == "PATCH" else [IsAuthenticated()]

    @extend_schema(responses=VersionSerializer)
    def get(self, request: Request, slug: str, number: int) -> Response:
        return Response(VersionSerializer(version_get_for(request, slug, number)).data)

    @extend_schema(request=VersionSerializer, responses=VersionSerializer)
    def patch(self, request: Request, slug: str, number: int) -> Response:
        version = version_get_for(request, slug, number)
        payload = VersionSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        version = version_draft_update(
            version=version,
            body=payload.validated_data.get("body"),
            summary=payload.validated_data.get("summary") if "summary" in request.data else None,
        )
        return Response(VersionSerializer(version).data)


class VersionPublishView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(request=None, responses=VersionSerializer)
    def post(self, request: Request, slug: str, number: int) -> Response:
        version = version_publish(version=version_get_for(request, slug, number))
        return Response(VersionSerializer(version).data)


class VersionRetireView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(request=None, responses=VersionSerializer)
    def post(self, request: Request, slug: str, number: int) -> Response:
        version = version_retire(version=version_get_for(request, slug, number))
        return Response(VersionSerializer(version).data)


class VersionAcknowledgeView(APIView):
    @extend_schema(request=None, responses={201: {"type": "object"}})
    def post(self, request: Request, slug: str, number: int) -> Response:
        ack = acknowledgement_create(
            user=request.user, version=version_get_for(request, slug, number)
        )
        return Response(
            {
                "id": ack.pk,
                "guideline": slug,
                "version": number,
                "acknowledged_at": ack.acknowledged_at,
            },
            status=status.HTTP_201_CREATED,
        )


class DiffView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("from", int, required=True),
            OpenApiParameter("to", int, required=True),
        ],
        responses={200: {"type": "object"}},
    )
    def get(self, request: Request, slug: str) -> Response:
        pair = version_pair_from_query(request.query_params)
        if pair is None:
            raise ValidationError({"detail": "Two version numbers are needed: ?from=1&to=2."})
        old = version_get_for(request, slug, pair[0])
        new = version_get_for(request, slug, pair[1])
        diff = unified_diff(
            old.body, new.body, old_label=f"{slug} v{old.number}", new_label=f"{slug} v{new.number}"
        )
        return Response({"guideline": slug, "from": old.number, "to": new.number, "diff": diff})


class AcknowledgementTableView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses={200: {"type": "object"}})
    def get(self, request: Request, slug: str) -> Response:
        versions, rows = acknowledgement_table(guideline=get_object_or_404(Guideline, slug=slug))
        return Response(
            {
                "versions": [v.number for v in versions],
                "people": [
                    {
                        "username": row["user"].username,
                        "read": dict(zip([v.number for v in versions], row["read"], strict=True)),
                    }
                    for row in rows
                ],
            }
        )


class PreviewSerializer(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=MAX_BODY_CHARS)


class PreviewView(APIView):
    """Render Markdown as the platform shows it: the guideline editor's and the labelers'
    preview. Rendering is pure, so any signed-in user may use it."""

    @extend_schema(request=PreviewSerializer, responses={200: {"type": "object"}})
    def post(self, request: Request) -> Response:
        payload = PreviewSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return Response({"html": render_markdown(payload.validated_data["body"])})
