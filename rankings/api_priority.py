"""The ranking queue's priority over HTTP: each guideline's order and weights, and what
the queue holds (rankings/priority_settings.py, priority_report.py)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdminRole
from config.errors import InputError
from guidelines.models import Guideline
from rankings.priority_report import queue_priority_report
from rankings.priority_settings import queue_priority_set


def _row(guideline_id: int) -> dict[str, object]:
    return queue_priority_report(guideline_id)[0]


class QueuePriorityListView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(
        operation_id="rankings_queue_priority_list",
        responses={200: {"type": "array", "items": {"type": "object"}}},
    )
    def get(self, request: Request) -> Response:
        return Response(queue_priority_report())


class QueuePriorityView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses={200: {"type": "object"}})
    def get(self, request: Request, guideline_id: int) -> Response:
        get_object_or_404(Guideline, pk=guideline_id)
        return Response(_row(guideline_id))

    @extend_schema(
        request={"application/json": {"type": "object"}}, responses={200: {"type": "object"}}
    )
    def put(self, request: Request, guideline_id: int) -> Response:
        guideline = get_object_or_404(Guideline, pk=guideline_id)
        if not isinstance(request.data, dict):
            raise InputError("non_field_errors", "An object of settings.")
        _, sent = queue_priority_set(
            guideline=guideline, changes=dict(request.data), user=request.user
        )
        # "owed": saved, but the job queue did not answer; beat's pass re-orders the tasks.
        return Response({**_row(guideline_id), "reordering": "queued" if sent else "owed"})
