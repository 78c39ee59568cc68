"""The playground API: talk to any model version (admins only)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdminRole
from trainer.models import ModelVersion
from trainer.playground import MAX_NEW_TOKENS, ModelNotReady, playground_answer


class ChatInputSerializer(serializers.Serializer):
    # Each message's role and content are checked by the service, which names the message.
    messages = serializers.ListField(child=serializers.JSONField(), allow_empty=False)
    temperature = serializers.FloatField(required=False, default=0.8, min_value=0.0, max_value=5.0)
    top_p = serializers.FloatField(required=False, default=0.95, min_value=0.0, max_value=1.0)
    max_new_tokens = serializers.IntegerField(
        required=False, default=128, min_value=1, max_value=MAX_NEW_TOKENS
    )
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)

    def validate_top_p(self, value: float) -> float:
        if value <= 0.0:
            raise serializers.ValidationError("Above 0: 0 would keep no token.")
        return value


class ChatOutputSerializer(serializers.Serializer):
    model = serializers.IntegerField()
    kind = serializers.CharField()
    reply = serializers.CharField(required=False, help_text="SFT models")
    score = serializers.FloatField(required=False, help_text="Reward models")
    seed = serializers.IntegerField(required=False)
    prompt_tokens = serializers.ListField(child=serializers.CharField())
    turn_tokens = serializers.ListField(child=serializers.CharField())


class ModelNotReadySerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()


RETRY_AFTER_S = 5


class ModelChatView(APIView):
    """An SFT model version replies to `messages` (ending on a user turn); a reward model
    version scores the assistant reply `messages` ends on."""

    permission_classes = [IsAdminRole]

    @extend_schema(
        request=ChatInputSerializer,
        responses={200: ChatOutputSerializer, 503: ModelNotReadySerializer},
    )
    def post(self, request: Request, model_id: int) -> Response:
        version = get_object_or_404(ModelVersion, pk=model_id)
        payload = ChatInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            return Response(playground_answer(version=version, **payload.validated_data))
        except ModelNotReady as exc:
            # The inference process goes on loading the model: the next try finds it loaded.
            return Response(
                {"detail": str(exc), "code": "model_not_ready"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
