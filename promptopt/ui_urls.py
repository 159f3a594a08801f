"""The web UI's URLs (namespace "ui"): sign-in at the top, every team page under /t/<team>/."""

from django.urls import include, path

from accounts import views as accounts
from prompts.views import datasets, prompts
from workflows.views import compare, dashboard, evaluations, playground, runs

app_name = "ui"

team_pages = [
    path("", dashboard.dashboard, name="dashboard"),
    path("prompts/", prompts.prompt_list, name="prompts"),
    path("prompts/new/", prompts.prompt_new, name="prompt_new"),
    path("prompts/<slug:prompt>/", prompts.prompt_detail, name="prompt"),
    path("prompts/<slug:prompt>/edit/", prompts.version_new, name="version_new"),
    path("prompts/<slug:prompt>/diff/", prompts.version_diff, name="version_diff"),
    path("prompts/<slug:prompt>/labels/", prompts.label_move_view, name="label_move"),
    path("prompts/<slug:prompt>/v<int:number>/", prompts.version_detail, name="version"),
    path("prompts/<slug:prompt>/v<int:number>/playground/", playground.playground, name="playground"),
    path("datasets/", datasets.dataset_list, name="datasets"),
    path("datasets/upload/", datasets.dataset_upload, name="dataset_upload"),
    path("datasets/upload/<str:token>/", datasets.dataset_upload_map, name="dataset_upload_map"),
    path("datasets/<slug:dataset>/", datasets.dataset_detail, name="dataset"),
    path("datasets/<slug:dataset>/v<int:number>/", datasets.dataset_version_detail, name="dataset_version"),
    path("runs/", runs.run_list, name="runs"),
    path("runs/new/", runs.run_new, name="run_new"),
    path("runs/<int:run_id>/", runs.run_detail, name="run"),
    path("runs/<int:run_id>/live/", runs.run_live, name="run_live"),
    path("runs/<int:run_id>/examples/", runs.run_examples, name="run_examples"),
    path("runs/<int:run_id>/candidates/<int:candidate_id>/", runs.run_candidate_diff, name="run_candidate"),
    path("runs/<int:run_id>/cancel/", runs.run_cancel_view, name="run_cancel"),
    path("runs/<int:run_id>/retry/", runs.run_retry_view, name="run_retry"),
    path("runs/<int:run_id>/promote/", runs.run_promote_view, name="run_promote"),
    path("evaluations/", evaluations.evaluation_list, name="evaluations"),
    path("evaluations/new/", evaluations.evaluation_new, name="evaluation_new"),
    path("evaluations/<int:evaluation_id>/", evaluations.evaluation_detail, name="evaluation"),
    path("evaluations/<int:evaluation_id>/live/", evaluations.evaluation_live, name="evaluation_live"),
    path("evaluations/<int:evaluation_id>/cancel/", evaluations.evaluation_cancel_view, name="evaluation_cancel"),
    path("compare/", compare.compare, name="compare"),
    path("api-keys/", accounts.api_keys, name="api_keys"),
    path("api-keys/<str:prefix>/revoke/", accounts.api_key_revoke_view, name="api_key_revoke"),
    path("audit/", accounts.audit_log, name="audit_log"),
]

urlpatterns = [
    path("", accounts.home, name="home"),
    path("sign-in/", accounts.SignInView.as_view(), name="sign_in"),
    path("sign-out/", accounts.SignOutView.as_view(), name="sign_out"),
    path("password/", accounts.PasswordChangeView.as_view(), name="password_change"),
    path("t/<slug:team>/", include(team_pages)),
]
