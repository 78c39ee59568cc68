from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import HasRole, IsAdminRole, IsLabeler, IsReviewer, TakesTasks
from accounts.roles import Role, user_has_role
from accounts.token_trust import (
    StatementCheckedTokenAuthentication,
    TokenCheckFailed,
    token_check_of,
    token_recheck,
)
from config.errors import InputError
from guidelines.models import Guideline
from labeling.drafts import lease_draft_offered
from labeling.models import Assignment, Demonstration, Prompt, Review, Task
from labeling.queue import draft_autosave, lease_renew, task_next_for_user, task_skip
from labeling.selectors import demonstrations_of_author, prompt_list
from labeling.services import (
    demonstration_revise,
    demonstration_submit,
    profile_set_opt_outs,
    prompt_create,
    review_submit,
)
from labeling.task_kinds import kind_description, kind_refusal, task_kind_choices
from labeling.validation import MAX_TIME_SPENT_S

MAX_PROMPTS_PER_POST = 1000


class IsLabelerOrReviewer(HasRole):
    roles = (Role.LABELER, Role.REVIEWER, Role.ADMIN)


class NearDuplicateSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="prompt_id")
    similarity = serializers.FloatField()
    text = serializers.CharField()


class PromptOutputSerializer(serializers.ModelSerializer):
    guideline = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    guideline_version = serializers.IntegerField(source="guideline_version.number")
    near_duplicates = serializers.SerializerMethodField()

    class Meta:
        model = Prompt
        fields = [
            "id",
            "guideline",
            "guideline_version",
            "messages",
            "category",
            "language",
            "sensitive_category",
            "source",
            "wanted_demonstrations",
            "created_at",
            "near_duplicate_of",
            "near_duplicates",
            "draft_model",
        ]

    @extend_schema_field(NearDuplicateSerializer(many=True))
    def get_near_duplicates(self, prompt: Prompt) -> list[dict[str, object]]:
        """Filled when the prompt was just created: the similar prompts found then."""
        found = getattr(prompt, "near_duplicates", [])
        return NearDuplicateSerializer(found, many=True).data


class PromptInputSerializer(serializers.Serializer):
    messages = serializers.JSONField()
    guideline = serializers.SlugField()
    category = serializers.CharField(required=False, default=Prompt.Category.OTHER)
    language = serializers.CharField(required=False, default="en", max_length=16)
    sensitive_category = serializers.CharField(required=False, default="", allow_blank=True)
    wanted_demonstrations = serializers.IntegerField(required=False, default=1)
    draft = serializers.DictField(required=False, help_text='{"model", "content"}: a model draft')


def _guideline(slug: str) -> Guideline:
    guideline = Guideline.objects.filter(slug=slug).first()
    if guideline is None:
        raise InputError("guideline", f"No guideline {slug!r}.")
    return guideline


class PromptListCreateView(GenericAPIView):
    serializer_class = PromptOutputSerializer

    def get_permissions(self):  # type: ignore[no-untyped-def]
        return [IsAdminRole()] if self.request.method == "GET" else [IsLabeler()]

    @extend_schema(responses=PromptOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(prompt_list(filters=request.query_params))
        return self.get_paginated_response(PromptOutputSerializer(page, many=True).data)

    @extend_schema(request=PromptInputSerializer, responses={201: PromptOutputSerializer})
    def post(self, request: Request) -> Response:
        is_admin = user_has_role(request.user, Role.ADMIN)
        many = isinstance(request.data, list)
        if many and not is_admin:
            raise ValidationError({"detail": "Only admins may post a list of prompts."})
        items = request.data if many else [request.data]
        if len(items) > MAX_PROMPTS_PER_POST:
            raise ValidationError(
                {"detail": f"At most {MAX_PROMPTS_PER_POST} prompts per request."}
            )
        payload = PromptInputSerializer(data=items, many=True)
        payload.is_valid(raise_exception=True)
        # A list is all or nothing: a bad item at position 700 saves none of the 1,000.
        with transaction.atomic():
            prompts = []
            for index, item in enumerate(payload.validated_data):
                try:
                    draft = item.pop("draft", None) or {}
                    prompts.append(
                        prompt_create(
                            author=request.user,
                            guideline=_guideline(item.pop("guideline")),
                            draft_model=str(draft.get("model", "")),
                            draft_text=str(draft.get("content", "")),
                            require_acknowledgement=not is_admin,
                            source=Prompt.Source.IMPORTED if many else Prompt.Source.WRITTEN,
                            **item,
                        )
                    )
                except InputError as exc:
                    if many:
                        exc.field = f"[{index}].{exc.field}"
                    raise
        data = PromptOutputSerializer(prompts, many=True).data
        return Response(data if many else data[0], status=status.HTTP_201_CREATED)


class TaskKindField(serializers.ChoiceField):
    """A registered task kind. The choices are read from the registry each time a
    serializer is made (DRF makes its fields anew then), after every app's ready()."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(choices=task_kind_choices(), **kwargs)


class TaskNextSerializer(serializers.Serializer):
    kind = TaskKindField()
    guideline = serializers.SlugField(required=False)


def task_payload(assignment: Assignment) -> dict[str, object]:
    task = assignment.task
    prompt = task.prompt
    offered = lease_draft_offered(assignment)
    payload: dict[str, object] = {
        "id": task.pk,
        "kind": task.kind,
        "guideline": task.guideline.slug,
        "prompt": {
            "id": prompt.pk,
            "messages": prompt.messages,
            "category": prompt.category,
            "sensitive_category": prompt.sensitive_category,
            "draft": {"id": offered.id, "model": offered.model, "content": offered.text}
            if offered
            else None,
        },
        "lease_expires_at": assignment.expires_at,
        "draft": assignment.draft,
    }
    extra = kind_description(task.kind)
    if extra is not None:
        payload.update(extra.payload(assignment))
    return payload


class TaskNextView(APIView):
    # On PostgreSQL a token checked lately is confirmed by the lease statement itself:
    # next task in one round trip (accounts.token_trust).
    authentication_classes = [StatementCheckedTokenAuthentication, SessionAuthentication]
    permission_classes = [IsLabelerOrReviewer]

    def permission_denied(
        self, request: Request, message: str | None = None, code: str | None = None
    ) -> None:
        # Roles taken on trust may be out of date: refuse only on roles checked afresh.
        check = token_check_of(request.auth)
        if check is None:
            super().permission_denied(request, message, code)
        request.user, request.auth = token_recheck(check)
        self.check_permissions(request)

    @extend_schema(
        request=TaskNextSerializer,
        # The same token as everywhere, however this view confirms it.
        auth=[{"tokenAuth": []}, {"cookieAuth": []}],
        responses={
            200: {"type": "object"},
            204: None,
            404: OpenApiResponse(description="No guideline with that slug."),
        },
    )
    def post(self, request: Request) -> Response:
        payload = TaskNextSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        kind = payload.validated_data["kind"]
        slug = payload.validated_data.get("guideline")
        try:
            assignment = self._lease(request, kind, slug)
        except TokenCheckFailed:
            # The token, its user or their roles changed since this process checked them:
            # check them afresh, as any request would (401, 403), and ask as they are now.
            request.user, request.auth = token_recheck(token_check_of(request.auth))
            self.check_permissions(request)
            assignment = self._lease(request, kind, slug)
        if isinstance(assignment, Response):
            return assignment
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(task_payload(assignment))

    def _lease(self, request: Request, kind: str, slug: str | None) -> Assignment | Response | None:
        check = token_check_of(request.auth)
        refusal = kind_refusal(kind, request.user)
        try:
            guideline = get_object_or_404(Guideline, slug=slug) if slug else None
        except Http404:
            if check is not None:
                raise TokenCheckFailed from None  # answer only to a token checked afresh
            raise
        if refusal is not None:
            if check is not None:
                raise TokenCheckFailed
            return Response({"detail": refusal}, status=403)
        return task_next_for_user(
            user=request.user, kind=kind, guideline=guideline, token_check=check
        )


class TaskSkipView(APIView):
    permission_classes = [IsLabelerOrReviewer]

    @extend_schema(request=None, responses={200: {"type": "object"}})
    def post(self, request: Request, task_id: int) -> Response:
        task_skip(user=request.user, task_id=task_id)
        return Response({"id": task_id, "status": "skipped"})


class TimeOnTaskSerializer(serializers.Serializer):
    # What the open page has counted; kept with the lease so a reload resumes from it.
    time_spent_s = serializers.IntegerField(required=False, min_value=0, max_value=MAX_TIME_SPENT_S)


class TaskRenewView(APIView):
    permission_classes = [IsLabelerOrReviewer]

    @extend_schema(request=TimeOnTaskSerializer, responses={200: {"type": "object"}})
    def post(self, request: Request, task_id: int) -> Response:
        payload = TimeOnTaskSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        assignment = lease_renew(
            user=request.user,
            task_id=task_id,
            time_spent_s=payload.validated_data.get("time_spent_s"),
        )
        return Response(
            {
                "id": task_id,
                "lease_expires_at": assignment.expires_at,
                "time_spent_s": assignment.time_spent_s,
            }
        )


class DraftInputSerializer(TimeOnTaskSerializer):
    # Work in progress may be empty or mostly whitespace; it is kept exactly as typed.
    content = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=200_000)


class TaskDraftView(APIView):
    permission_classes = [IsLabelerOrReviewer]

    @extend_schema(request=DraftInputSerializer, responses={200: {"type": "object"}})
    def put(self, request: Request, task_id: int) -> Response:
        payload = DraftInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        assignment = draft_autosave(
            user=request.user,
            task_id=task_id,
            content=payload.validated_data["content"],
            time_spent_s=payload.validated_data.get("time_spent_s"),
        )
        return Response(
            {
                "id": task_id,
                "saved_at": assignment.draft_saved_at,
                "lease_expires_at": assignment.expires_at,
            }
        )


MAX_ID = 2**63 - 1


def _draft_claim_valid(draft: object) -> bool:
    """true/false, the offered draft's {"id"}, or its {"model", "content"}."""
    if draft is None or isinstance(draft, bool):
        return True
    if not isinstance(draft, dict):
        return False
    if draft.get("id") is not None:
        return type(draft["id"]) is int
    return isinstance(draft.get("content", ""), str)


class DemonstrationInputSerializer(serializers.Serializer):
    task = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    prompt = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    content = serializers.JSONField()
    time_spent_s = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=MAX_TIME_SPENT_S
    )
    draft = serializers.JSONField(
        required=False,
        help_text='true, or the draft offered ({"id"} or {"model", "content"}): started from it',
    )

    def validate(self, attrs):  # type: ignore[no-untyped-def]
        if "task" not in attrs and "prompt" not in attrs:
            raise serializers.ValidationError({"task": "Give the task id (or the prompt id)."})
        draft = attrs.get("draft")
        if not _draft_claim_valid(draft):
            raise serializers.ValidationError({"draft": 'true, {"id"} or {"model", "content"}.'})
        return attrs


class ReviewOutputSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.username")

    class Meta:
        model = Review
        fields = ["id", "verdict", "reasons", "comment", "revision", "reviewer", "created_at"]


class DemonstrationOutputSerializer(serializers.ModelSerializer):
    guideline_version = serializers.IntegerField(source="guideline_version.number")
    reviews = ReviewOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Demonstration
        fields = [
            "id",
            "task",
            "prompt",
            "content",
            "status",
            "revision",
            "time_spent_s",
            "guideline_version",
            "draft",
            "draft_model",
            "draft_edit_distance",
            "draft_char_distance",
            "created_at",
            "reviews",
        ]


def _task_for_prompt(user, prompt_id: int) -> int:  # type: ignore[no-untyped-def]
    """The demonstration task of `prompt_id` that `user` holds."""
    task = (
        Task.objects.filter(
            kind=Task.Kind.DEMONSTRATION, prompt_id=prompt_id, assignments__user=user
        )
        .order_by("-id")
        .first()
    )
    if task is None:
        raise InputError("prompt", f"You hold no task for prompt {prompt_id}.")
    return task.pk


class DemonstrationCreateView(APIView):
    permission_classes = [IsLabeler]

    @extend_schema(
        request=DemonstrationInputSerializer, responses={201: DemonstrationOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        payload = DemonstrationInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        task_id = data["task"] if "task" in data else _task_for_prompt(request.user, data["prompt"])
        draft = data.get("draft")
        demonstration, created = demonstration_submit(
            author=request.user,
            task_id=task_id,
            content=data["content"],
            time_spent_s=data["time_spent_s"],
            idempotency_key=request.headers.get("Idempotency-Key", "")[:100],
            started_from_draft=bool(draft),
            claimed_draft_text=draft.get("content") if isinstance(draft, dict) else None,
            claimed_draft_id=draft.get("id") if isinstance(draft, dict) else None,
        )
        if created:
            # Nothing has reviewed it yet: no need to ask the database, nor to compile a
            # query for nothing (an empty queryset did, a fifth of the request's time).
            demonstration._prefetched_objects_cache = {"reviews": []}
        return Response(
            DemonstrationOutputSerializer(demonstration).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ReviseInputSerializer(serializers.Serializer):
    content = serializers.JSONField()
    time_spent_s = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=MAX_TIME_SPENT_S
    )


class DemonstrationReviseView(APIView):
    permission_classes = [IsLabeler]

    @extend_schema(request=ReviseInputSerializer, responses=DemonstrationOutputSerializer)
    def patch(self, request: Request, demonstration_id: int) -> Response:
        payload = ReviseInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        demonstration = demonstration_revise(
            author=request.user, demonstration_id=demonstration_id, **payload.validated_data
        )
        return Response(DemonstrationOutputSerializer(demonstration).data)


class ReviewInputSerializer(serializers.Serializer):
    verdict = serializers.CharField()
    reasons = serializers.JSONField(required=False, default=list)
    comment = serializers.CharField(required=False, default="", allow_blank=True)
    time_spent_s = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=MAX_TIME_SPENT_S
    )


class ReviewCreateView(APIView):
    permission_classes = [IsReviewer]

    @extend_schema(request=ReviewInputSerializer, responses={201: ReviewOutputSerializer})
    def post(self, request: Request, demonstration_id: int) -> Response:
        payload = ReviewInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        get_object_or_404(Demonstration, pk=demonstration_id)
        review, created = review_submit(
            reviewer=request.user, demonstration_id=demonstration_id, **payload.validated_data
        )
        return Response(
            ReviewOutputSerializer(review).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class MyDemonstrationsView(ListAPIView):
    permission_classes = [IsLabeler]
    serializer_class = DemonstrationOutputSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return demonstrations_of_author(author=self.request.user).prefetch_related(
            Prefetch("reviews", queryset=Review.objects.select_related("reviewer"))
        )


class OptOutSerializer(serializers.Serializer):
    sensitive_opt_outs = serializers.ListField(
        child=serializers.ChoiceField(choices=[c for c in Prompt.Sensitivity.values if c])
    )


class OptOutView(APIView):
    # Reviewers rank replies to the same prompts: they may opt out of a category too.
    permission_classes = [TakesTasks]

    @extend_schema(request=OptOutSerializer, responses=OptOutSerializer)
    def put(self, request: Request) -> Response:
        payload = OptOutSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        profile = profile_set_opt_outs(
            user=request.user, categories=payload.validated_data["sensitive_opt_outs"]
        )
        return Response({"sensitive_opt_outs": profile.sensitive_opt_outs})
