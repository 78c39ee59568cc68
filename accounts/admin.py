from django.contrib import admin
from django.http import HttpRequest

from accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Admins see who holds tokens and delete (revoke) them; only the API issues them,
    because only at issue time is the plain token known."""

    list_display = ("user", "created_at", "expires_at", "last_used_at")
    list_filter = ("expires_at",)
    search_fields = ("user__username",)
    readonly_fields = ("user", "key_hash", "created_at", "expires_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
