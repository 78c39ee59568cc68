from django.contrib import admin

from labeling.models import Prompt


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["__str__", "guideline", "category", "source", "language", "created_at"]
    list_filter = ["category", "source", "language", "guideline"]
    list_select_related = ["guideline"]
