from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import api
from accounts.forms import LoginForm

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            authentication_form=LoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/me/", api.MeView.as_view(), name="accounts-me"),
    path("api/users/", api.UserListCreateView.as_view(), name="accounts-users"),
    path("api/users/<int:user_id>/", api.UserDetailView.as_view(), name="accounts-user"),
    path(
        "api/users/<int:user_id>/deactivate/",
        api.UserDeactivateView.as_view(),
        name="accounts-user-deactivate",
    ),
    path(
        "api/users/<int:user_id>/revoke-tokens/",
        api.UserTokensRevokeView.as_view(),
        name="accounts-user-revoke-tokens",
    ),
    path("api/auth/token/", api.TokenView.as_view(), name="accounts-token"),
]
