from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts.roles import user_is_inference_only


class LoginForm(AuthenticationForm):
    """Django's login form, closed to accounts that may only call the models at /v1/:
    a program's account has no use for the pages, and a session would let it reach them."""

    def confirm_login_allowed(self, user) -> None:  # type: ignore[no-untyped-def]
        super().confirm_login_allowed(user)
        if user_is_inference_only(user):
            raise ValidationError(
                "This account is for programs calling /v1/ with an API token; "
                "it cannot sign in here.",
                code="inference_only",
            )
