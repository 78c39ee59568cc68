from django.contrib import admin

from trainer.models import TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "progress", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
