from django.urls import path

from ai_feedback import api, views

urlpatterns = [
    path("api/ai-feedback/", api.AIFeedbackView.as_view(), name="ai-feedback"),
    path(
        "api/ai-feedback/<id:job_id>/", api.AIFeedbackDetailView.as_view(), name="ai-feedback-job"
    ),
    path("dashboard/ai-feedback/", views.ai_feedback_list, name="ai-feedback-list-page"),
    path("dashboard/ai-feedback/<id:job_id>/", views.ai_feedback_page, name="ai-feedback-page"),
]
