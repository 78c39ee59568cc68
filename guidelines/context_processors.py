from django.http import HttpRequest

from accounts.roles import Role, user_has_role
from guidelines.selectors import versions_awaiting_acknowledgement


def guideline_changes(request: HttpRequest) -> dict[str, object]:
    """Published versions the signed-in labeler or reviewer has not read yet (the banner)."""
    if not user_has_role(request.user, Role.LABELER, Role.REVIEWER):
        return {}
    return {"guidelines_to_read": versions_awaiting_acknowledgement(user=request.user)}
