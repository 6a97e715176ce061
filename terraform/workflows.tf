/**
 * The three workflows, from the YAML in workflows/. Both run as the workflows
 * service account, whose only rights are to invoke the actions function and
 * to write logs. ACTIONS_URL is the actions function's run.app URL; the
 * workflows call it with `auth: { type: OIDC }`.
 */

resource "google_workflows_workflow" "rollout" {
  project         = var.project_id
  region          = var.region
  name            = "rollout"
  description     = "Glidepath rollout: waves of regions, each deploy, smoke, shift/bake/analyze steps, then promote or roll back."
  service_account = google_service_account.workflows.id
  call_log_level  = "LOG_ERRORS_ONLY"
  labels          = local.labels
  source_contents = file("${path.module}/../workflows/rollout.workflows.yaml")

  user_env_vars = {
    ACTIONS_URL = google_cloudfunctions2_function.actions.service_config[0].uri
  }

  depends_on = [google_project_service.enabled]
}

resource "google_workflows_workflow" "job_run" {
  project         = var.project_id
  region          = var.region
  name            = "job-run"
  description     = "Glidepath job run: runs a Cloud Run Job with retries and backoff, then dead-letters it."
  service_account = google_service_account.workflows.id
  call_log_level  = "LOG_ERRORS_ONLY"
  labels          = local.labels
  source_contents = file("${path.module}/../workflows/job-run.workflows.yaml")

  user_env_vars = {
    ACTIONS_URL = google_cloudfunctions2_function.actions.service_config[0].uri
  }

  depends_on = [google_project_service.enabled]
}

resource "google_workflows_workflow" "job_rollout" {
  project         = var.project_id
  region          = var.region
  name            = "job-rollout"
  description     = "Glidepath job image rollout: updates a Cloud Run Job's image region by region, verifies it, restores the template on failure."
  service_account = google_service_account.workflows.id
  call_log_level  = "LOG_ERRORS_ONLY"
  labels          = local.labels
  source_contents = file("${path.module}/../workflows/job-rollout.workflows.yaml")

  user_env_vars = {
    ACTIONS_URL = google_cloudfunctions2_function.actions.service_config[0].uri
  }

  depends_on = [google_project_service.enabled]
}
