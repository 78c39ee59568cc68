"""The schedules API: the beat entries, and turning them on or off or changing how often
they run. Admins only."""

from django.shortcuts import get_object_or_404
from django_celery_beat.models import PeriodicTask
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdminRole
from dashboard.schedules import (
    MAX_EVERY,
    PERIODS,
    ScheduleInputError,
    schedule_cadence,
    schedule_is_system,
    schedule_kind,
    schedule_list,
    schedule_update,
)

EDITABLE = ("enabled", "every", "period")


class ScheduleSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    task = serializers.CharField(read_only=True)
    enabled = serializers.BooleanField(read_only=True)
    kind = serializers.SerializerMethodField(help_text="interval, crontab, solar or clocked")
    every = serializers.SerializerMethodField()
    period = serializers.SerializerMethodField()
    cadence = serializers.SerializerMethodField(help_text='In words, e.g. "every 2 hours"')
    queue = serializers.CharField(read_only=True, allow_null=True)
    last_run_at = serializers.DateTimeField(read_only=True, allow_null=True)
    total_run_count = serializers.IntegerField(read_only=True)
    system = serializers.SerializerMethodField(
        help_text="The platform needs it: it cannot be turned off"
    )

    def get_kind(self, schedule: PeriodicTask) -> str:
        return schedule_kind(schedule)

    def get_every(self, schedule: PeriodicTask) -> int | None:
        return schedule.interval.every if schedule.interval else None

    def get_period(self, schedule: PeriodicTask) -> str | None:
        return schedule.interval.period if schedule.interval else None

    def get_cadence(self, schedule: PeriodicTask) -> str:
        return schedule_cadence(schedule)

    def get_system(self, schedule: PeriodicTask) -> bool:
        return schedule_is_system(schedule)


class ScheduleUpdateSerializer(serializers.Serializer):
    """What may change: any of enabled, every and period; nothing else."""

    enabled = serializers.BooleanField(required=False)
    every = serializers.IntegerField(required=False, min_value=1, max_value=MAX_EVERY)
    period = serializers.ChoiceField(choices=PERIODS, required=False)

    def validate(self, attrs: dict) -> dict:
        unknown = sorted(set(self.initial_data) - set(EDITABLE))
        if unknown:
            raise serializers.ValidationError(
                f"Only enabled, every and period can change, not: {', '.join(unknown)}."
            )
        if not attrs:
            raise serializers.ValidationError("Send at least one of enabled, every, period.")
        return attrs


def schedule_apply(schedule: PeriodicTask, data: object) -> PeriodicTask:
    """Validate `data` as the API does and apply it; DRF's ValidationError when it is bad."""
    payload = ScheduleUpdateSerializer(data=data)
    payload.is_valid(raise_exception=True)
    try:
        return schedule_update(schedule=schedule, **payload.validated_data)
    except ScheduleInputError as exc:
        raise serializers.ValidationError({exc.field: [str(exc)]}) from exc


class ScheduleListView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses=ScheduleSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(ScheduleSerializer(schedule_list(), many=True).data)


class ScheduleDetailView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses=ScheduleSerializer)
    def get(self, request: Request, schedule_id: int) -> Response:
        schedule = get_object_or_404(schedule_list(), pk=schedule_id)
        return Response(ScheduleSerializer(schedule).data)

    @extend_schema(request=ScheduleUpdateSerializer, responses=ScheduleSerializer)
    def patch(self, request: Request, schedule_id: int) -> Response:
        schedule = get_object_or_404(schedule_list(), pk=schedule_id)
        return Response(ScheduleSerializer(schedule_apply(schedule, request.data)).data)
