from axes.backends import AxesStandaloneBackend
from django.contrib.auth.backends import ModelBackend

from accounts.roles import Role, user_has_role


class RoleBackend(ModelBackend):
    """Django's model backend, plus: the admin role holds every model permission.

    That lets an admin who is not a superuser use Django's admin without anyone keeping
    a list of permissions on the admin group up to date as models are added.
    """

    def has_perm(self, user_obj, perm, obj=None):  # type: ignore[no-untyped-def]
        if user_obj.is_active and user_has_role(user_obj, Role.ADMIN):
            return True
        return super().has_perm(user_obj, perm, obj)

    def has_module_perms(self, user_obj, app_label):  # type: ignore[no-untyped-def]
        if user_obj.is_active and user_has_role(user_obj, Role.ADMIN):
            return True
        return super().has_module_perms(user_obj, app_label)


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check, for logins that come with a request.

    A login from a web form or the token endpoint always has one; `authenticate()` called
    from code (a management command, Django's test client) has none and is no attempt from
    the network, so there is nothing to count (axes itself would raise).
    """

    def authenticate(self, request, username=None, password=None, **kwargs):  # type: ignore[no-untyped-def]
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
