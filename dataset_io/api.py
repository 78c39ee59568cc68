from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdminRole
from config.parsers import CheckedJSONParser
from config.query_params import choice_param
from dataset_io.export_rows import LABEL_SOURCES
from dataset_io.models import DatasetSnapshot, ImportJob
from dataset_io.selectors import guidelines_importable
from dataset_io.services import import_job_create, snapshot_create, snapshot_run_again
from jobs.models import Job, JobStatus
from jobs.services import job_cancel, job_requeue

MAX_UPLOAD_BYTES = 512 * 1024 * 1024


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=ImportJob.Format.choices)
    guideline = serializers.SlugField(required=False, help_text="Defaults to the only guideline")
    strict = serializers.BooleanField(required=False, default=False)

    def validate_file(self, upload):  # type: ignore[no-untyped-def]
        if upload.size > MAX_UPLOAD_BYTES:
            raise serializers.ValidationError(f"At most {MAX_UPLOAD_BYTES // 2**20} MiB.")
        return upload

    def validate(self, attrs):  # type: ignore[no-untyped-def]
        slug = attrs.get("guideline")
        published = guidelines_importable()
        if slug:
            guideline = published.filter(slug=slug).first()
            if guideline is None:
                raise serializers.ValidationError(
                    {"guideline": f"No published guideline {slug!r}."}
                )
        elif published.count() == 1:
            guideline = published.get()
        else:
            raise serializers.ValidationError({"guideline": "Name the guideline the data is for."})
        attrs["guideline"] = guideline
        return attrs

    def job_fields(self) -> dict[str, object]:
        """The validated input as `import_job_create` takes it."""
        data = self.validated_data
        return {
            "upload": data["file"],
            "format": data["format"],
            "guideline": data["guideline"],
            "strict": data["strict"],
        }


class ImportJobSerializer(serializers.ModelSerializer):
    guideline = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "format",
            "status",
            "guideline",
            "strict",
            "original_name",
            "lines_total",
            "lines_done",
            "progress",
            "counts",
            "error_count",
            "errors",
            "error",
            "attempts",
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_progress(self, job: ImportJob) -> float:
        return round(job.lines_done / job.lines_total, 4) if job.lines_total else 0.0


class ImportCreateView(APIView):
    permission_classes = [IsAdminRole]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ImportInputSerializer}, responses={202: ImportJobSerializer}
    )
    def post(self, request: Request) -> Response:
        payload = ImportInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        job = import_job_create(**payload.job_fields(), created_by=request.user)
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportDetailView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses=ImportJobSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        return Response(ImportJobSerializer(get_object_or_404(ImportJob, pk=job_id)).data)


class ExportFiltersSerializer(serializers.Serializer):
    guideline = serializers.SlugField(required=False)
    guideline_versions = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False
    )
    statuses = serializers.ListField(child=serializers.CharField(), required=False)
    min_agreement = serializers.FloatField(required=False, min_value=0, max_value=1)
    categories = serializers.ListField(child=serializers.CharField(), required=False)
    languages = serializers.ListField(child=serializers.CharField(), required=False)
    sources = serializers.ListField(child=serializers.CharField(), required=False)
    # The comparisons an evaluation's human judge filed: out unless asked for.
    include_evaluations = serializers.BooleanField(required=False)
    # Whose labels: people's (the default), AI raters' (ai_feedback), or both.
    source = serializers.ChoiceField(choices=LABEL_SOURCES, required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


class ExportOptionsSerializer(serializers.Serializer):
    gzip = serializers.BooleanField(required=False, default=False)
    pairs = serializers.ChoiceField(choices=["all", "consensus"], required=False, default="all")
    validation_permille = serializers.IntegerField(
        required=False, default=50, min_value=0, max_value=1000
    )


class ExportInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DatasetSnapshot.Kind.choices)
    filters = ExportFiltersSerializer(required=False, default=dict)
    options = ExportOptionsSerializer(required=False, default=dict)

    def snapshot_fields(self) -> dict[str, object]:
        """The validated input as a snapshot keeps it: JSON, dates as ISO text, and only the
        filters that were given."""
        data = self.validated_data
        filters = ExportFiltersSerializer(data["filters"]).data
        return {
            "kind": data["kind"],
            "filters": {k: v for k, v in filters.items() if v not in (None, [])},
            "options": ExportOptionsSerializer(data.get("options") or {}).data,
        }


class SnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetSnapshot
        fields = [
            "id",
            "kind",
            "status",
            "filters",
            "options",
            "counts",
            "sha256",
            "files",
            "guideline_versions",
            "card",
            "error",
            "attempts",
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
        ]


class ExportsView(APIView):
    permission_classes = [IsAdminRole]
    # JSON only: a form cannot carry the nested `filters` and `options`, and a flat form
    # field holding JSON text would be a second, weaker way in. Forms get a 415.
    parser_classes = [CheckedJSONParser]
    # The newest this many: a list to pick from, not a dump of every snapshot ever made.
    LISTED = 200

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, description="Only snapshots of this kind"),
            OpenApiParameter("status", str, description="Only snapshots in this status"),
        ],
        responses=SnapshotSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        """The snapshots, newest first."""
        snapshots = DatasetSnapshot.objects.order_by("-id")
        kind = choice_param(request, "kind", DatasetSnapshot.Kind.values)
        if kind:
            snapshots = snapshots.filter(kind=kind)
        wanted = choice_param(request, "status", JobStatus.values)
        if wanted:
            snapshots = snapshots.filter(status=wanted)
        return Response(SnapshotSerializer(snapshots[: self.LISTED], many=True).data)

    @extend_schema(request=ExportInputSerializer, responses={202: SnapshotSerializer})
    def post(self, request: Request) -> Response:
        payload = ExportInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        snapshot = snapshot_create(**payload.snapshot_fields(), created_by=request.user)
        return Response(SnapshotSerializer(snapshot).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses=SnapshotSerializer)
    def get(self, request: Request, snapshot_id: int) -> Response:
        return Response(SnapshotSerializer(get_object_or_404(DatasetSnapshot, pk=snapshot_id)).data)


class ExportRerunView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(request=None, responses={202: SnapshotSerializer})
    def post(self, request: Request, snapshot_id: int) -> Response:
        snapshot = get_object_or_404(DatasetSnapshot, pk=snapshot_id)
        try:
            snapshot = snapshot_run_again(snapshot=snapshot)
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(SnapshotSerializer(snapshot).data, status=status.HTTP_202_ACCEPTED)


class _JobActionView(APIView):
    """POST on one job of `model`: `perform` (run again, cancel), answered with the job.

    Not named `action`: DRF and drf-spectacular read a view's `action` as a viewset's
    action name, and the schema generation fails on a function there."""

    permission_classes = [IsAdminRole]
    model: type[Job]
    serializer: type[serializers.ModelSerializer]
    perform: Callable[[Job], Job]
    answer_status = status.HTTP_200_OK

    def post(self, request: Request, **ids: int) -> Response:
        (pk,) = ids.values()
        job = type(self).perform(get_object_or_404(self.model, pk=pk))
        return Response(self.serializer(job).data, status=self.answer_status)


@extend_schema_view(post=extend_schema(request=None, responses={202: ImportJobSerializer}))
class ImportRerunView(_JobActionView):
    """A failed or cancelled import runs again; lines already imported are skipped."""

    model, serializer, answer_status = ImportJob, ImportJobSerializer, status.HTTP_202_ACCEPTED
    perform = staticmethod(job_requeue)


@extend_schema_view(post=extend_schema(request=None, responses={200: ImportJobSerializer}))
class ImportCancelView(_JobActionView):
    model, serializer = ImportJob, ImportJobSerializer
    perform = staticmethod(job_cancel)


@extend_schema_view(post=extend_schema(request=None, responses={200: SnapshotSerializer}))
class ExportCancelView(_JobActionView):
    model, serializer = DatasetSnapshot, SnapshotSerializer
    perform = staticmethod(job_cancel)


class ExportDownloadView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(
        parameters=[
            OpenApiParameter("split", str, required=False, description="train (default), ...")
        ],
        responses={
            (200, "application/octet-stream"): bytes,
            400: OpenApiResponse(description="The export has no such split."),
            409: OpenApiResponse(description="The export has not succeeded."),
        },
    )
    def get(self, request: Request, snapshot_id: int):  # type: ignore[no-untyped-def]
        snapshot = get_object_or_404(DatasetSnapshot, pk=snapshot_id)
        split = request.query_params.get("split", "train")
        if snapshot.status != JobStatus.SUCCEEDED:
            return Response(
                {"detail": f"The export is {snapshot.status}."}, status=status.HTTP_409_CONFLICT
            )
        if split not in snapshot.files:
            return Response({"detail": f"split is one of {', '.join(snapshot.files)}."}, status=400)
        path = Path(settings.DATA_DIR) / snapshot.files[split]
        return FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=f"{snapshot.kind}-{snapshot.pk}-{path.name}",
        )
