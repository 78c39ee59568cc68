from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.permissions import IsAdminRole
from accounts.roles import ALL_ROLES, user_roles
from accounts.selectors import user_list
from accounts.services import user_create

User = get_user_model()


class UserOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()
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


class TokenObtainView(APIView):
    """POST {"username", "password"} -> {"token"} for scripts."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth-token"

    @extend_schema(request=AuthTokenSerializer, responses={200: {"type": "object"}})
    def post(self, request: Request) -> Response:
        serializer = AuthTokenSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})
