from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.lockout import login_failures_reset
from accounts.permissions import IsAdminRole
from accounts.roles import ALL_ROLES, user_roles
from accounts.selectors import user_list
from accounts.services import user_create, user_set_active
from accounts.tokens import (
    AnyTokenAuthentication,
    token_issue,
    token_revoke,
    tokens_revoke_of_user,
)

User = get_user_model()


class UserOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    # Blank for users created without one, so not documented as an email format.
    email = serializers.CharField()
    roles = serializers.SerializerMethodField()
    is_active = serializers.BooleanField()
    date_joined = serializers.DateTimeField()

    def get_roles(self, user: User) -> list[str]:  # type: ignore[valid-type]
        return user_roles(user)


class UserCreateSerializer(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    password = serializers.CharField(write_only=True, trim_whitespace=False)
    email = serializers.EmailField(required=False, default="")
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=ALL_ROLES), allow_empty=True, default=list
    )

    def validate_username(self, value: str) -> str:
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("A user with that username already exists.")
        return value


class MeView(APIView):
    @extend_schema(responses=UserOutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request.user).data)


class UserListCreateView(generics.GenericAPIView):
    permission_classes = [IsAdminRole]
    serializer_class = UserOutputSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return user_list()

    @extend_schema(responses=UserOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(UserOutputSerializer(page, many=True).data)

    @extend_schema(request=UserCreateSerializer, responses={201: UserOutputSerializer})
    def post(self, request: Request) -> Response:
        payload = UserCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            user = user_create(**payload.validated_data)
        except DjangoValidationError as exc:
            # Password validators speak Django's ValidationError; answer as a field error.
            raise serializers.ValidationError({"password": exc.messages}) from None
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenObtainSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})


class TokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Shown once: only its hash is kept.")
    expires_at = serializers.DateTimeField()


class TokenView(APIView):
    """POST {"username", "password"} -> a new token; DELETE revokes the token sent."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth-token"

    def get_authenticators(self) -> list:
        # Obtaining a token takes credentials in the body, not a session or another token
        # (a session would also demand a CSRF token from scripts). The schema generator
        # builds its mock request through here before `self.request` is set.
        if getattr(self.request, "method", None) == "DELETE":
            return [AnyTokenAuthentication()]
        return []

    def get_permissions(self) -> list:
        if self.request.method == "DELETE":
            return [IsAuthenticated()]
        return [AllowAny()]

    @extend_schema(request=TokenObtainSerializer, responses={200: TokenOutputSerializer})
    def post(self, request: Request) -> Response:
        payload = TokenObtainSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        # The plain Django request: django-axes counts failures on it, and its middleware
        # turns a lockout flagged there into the 429 every login path answers with.
        user = authenticate(request._request, **payload.validated_data)
        if user is None:
            raise serializers.ValidationError(
                {"non_field_errors": ["Unable to log in with provided credentials."]}
            )
        login_failures_reset(request._request, username=user.get_username())
        token, plain = token_issue(user=user)
        return Response(
            TokenOutputSerializer({"token": plain, "expires_at": token.expires_at}).data
        )

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserUpdateSerializer(serializers.Serializer):
    is_active = serializers.BooleanField()


class UserDetailView(APIView):
    """An admin reads a user, or (de)activates one with PATCH {"is_active"}."""

    permission_classes = [IsAdminRole]

    @extend_schema(responses=UserOutputSerializer)
    def get(self, request: Request, user_id: int) -> Response:
        return Response(UserOutputSerializer(user_for_admin(request, user_id)).data)

    @extend_schema(request=UserUpdateSerializer, responses=UserOutputSerializer)
    def patch(self, request: Request, user_id: int) -> Response:
        user = user_for_admin(request, user_id)
        payload = UserUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user_set_active(user=user, is_active=payload.validated_data["is_active"])
        return Response(UserOutputSerializer(user).data)


class UserDeactivateView(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(request=None, responses=UserOutputSerializer)
    def post(self, request: Request, user_id: int) -> Response:
        user = user_set_active(user=user_for_admin(request, user_id), is_active=False)
        return Response(UserOutputSerializer(user).data)


class UserTokensRevokeView(APIView):
    """An admin revokes every token of a user (a leaked script, a laptop lost)."""

    permission_classes = [IsAdminRole]

    @extend_schema(request=None, responses={200: {"type": "object"}})
    def post(self, request: Request, user_id: int) -> Response:
        revoked = tokens_revoke_of_user(user=user_for_admin(request, user_id))
        return Response({"revoked": revoked})


def user_for_admin(request: Request, user_id: int) -> AbstractUser:
    """The user an admin acts on. Admins cannot lock themselves out through the API."""
    user = get_object_or_404(User, pk=user_id)
    if request.method == "GET":
        return user
    if user.pk == request.user.pk:
        raise PermissionDenied("Admins cannot deactivate themselves or revoke their own tokens.")
    # A superuser holds every role; an admin who is not one must not be able to lock one
    # out (or let back in one a superuser deactivated).
    if user.is_superuser and not request.user.is_superuser:
        raise PermissionDenied("Only a superuser can change a superuser's account or tokens.")
    return user
