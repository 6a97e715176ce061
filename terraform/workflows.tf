/**
 * The three workflows, from workflows/<name>.workflows.yaml. They run as the
 * workflows service account, whose only rights are to invoke the actions
 * function and to write logs. ACTIONS_URL is the actions function's run.app
 * URL; the workflows call it with `auth: { type: OIDC }`.
 */

locals {
  workflows = {
    rollout       = { description = "Glidepath rollout: waves of regions, each deploy, smoke, shift/bake/analyze steps, then promote or roll back." }
    "job-run"     = { description = "Glidepath job run: runs a Cloud Run Job with retries and backoff, then dead-letters it." }
    "job-rollout" = { description = "Glidepath job image rollout: updates a Cloud Run Job's image region by region, verifies it, restores the template on failure." }
  }
}

resource "google_workflows_workflow" "workflows" {
  for_each = local.workflows

  project         = var.project_id
  region          = var.region
  name            = each.key
  description     = each.value.description
  service_account = google_service_account.workflows.id
  call_log_level  = "LOG_ERRORS_ONLY"
  labels          = local.labels
  source_contents = file("${path.module}/../workflows/${each.key}.workflows.yaml")

  user_env_vars = {
    ACTIONS_URL = google_cloudfunctions2_function.functions["actions"].service_config[0].uri
  }

  depends_on = [google_project_service.enabled]
}
