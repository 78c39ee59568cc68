from django.contrib import admin

from rankings.models import Candidate


@admin.register(Candidate)
class CandidateAdmin(admin.ModelAdmin):
    list_display = ["__str__", "prompt", "model_name", "source", "created_at"]
    list_filter = ["source", "model_name"]
    raw_id_fields = ["prompt"]
