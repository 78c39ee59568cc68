from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from accounts.roles import ALL_ROLES, Role, forget_cached_roles
from accounts.tokens import tokens_revoke_of_user

User = get_user_model()


def user_set_roles(*, user: AbstractUser, roles: Iterable[str]) -> None:
    """Replace the user's platform roles. Admins are staff so Django's admin lets them in."""
    wanted = set(roles)
    unknown = wanted - set(ALL_ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {', '.join(sorted(unknown))}")
    # get_or_create rather than trusting the migration's groups to still be there: a
    # deleted group would otherwise make the user silently role-less.
    role_groups = [Group.objects.get_or_create(name=name)[0] for name in ALL_ROLES]
    user.groups.remove(*[g for g in role_groups if g.name not in wanted])
    user.groups.add(*[g for g in role_groups if g.name in wanted])
    is_staff = Role.ADMIN in wanted or user.is_superuser
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])
    forget_cached_roles(user)


@transaction.atomic
def user_create(
    *, username: str, password: str, roles: Iterable[str], email: str = ""
) -> AbstractUser:
    """Create a user with roles. Raises django ValidationError for a weak password."""
    user = User(username=username, email=email)
    validate_password(password, user=user)
    user.set_password(password)
    user.save()
    user_set_roles(user=user, roles=roles)
    return user


@transaction.atomic
def user_set_active(*, user: AbstractUser, is_active: bool) -> AbstractUser:
    """Activate or deactivate a user. A deactivated user's API tokens are revoked.

    Their browser sessions end too: Django's model backend refuses an inactive user when
    it loads the session's user, on the very next request.
    """
    if user.is_active != is_active:
        user.is_active = is_active
        user.save(update_fields=["is_active"])
    if not is_active:
        tokens_revoke_of_user(user=user)
    return user
