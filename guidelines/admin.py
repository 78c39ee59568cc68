from django.contrib import admin

from guidelines.models import Acknowledgement, Guideline, GuidelineVersion


@admin.register(Guideline)
class GuidelineAdmin(admin.ModelAdmin):
    list_display = ["slug", "title", "created_at"]
    search_fields = ["slug", "title"]


@admin.register(GuidelineVersion)
class GuidelineVersionAdmin(admin.ModelAdmin):
    list_display = ["guideline", "number", "status", "published_at"]
    list_filter = ["status", "guideline"]

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        # A published version is a historical record that labels point at.
        if obj is not None and obj.status != GuidelineVersion.Status.DRAFT:
            return [f.name for f in obj._meta.fields]
        return ["number", "status", "published_at", "created_by"]


@admin.register(Acknowledgement)
class AcknowledgementAdmin(admin.ModelAdmin):
    list_display = ["user", "version", "acknowledged_at"]
    list_select_related = ["user", "version__guideline"]
