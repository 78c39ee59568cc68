from django.http import HttpRequest

from accounts.roles import user_roles


def roles(request: HttpRequest) -> dict[str, object]:
    held = user_roles(request.user)
    return {
        "user_roles": held,
        "is_labeler": "labeler" in held,
        "is_reviewer": "reviewer" in held,
        "is_platform_admin": "admin" in held,
    }
