/**
 * The seven gen2 functions (Node 20), one for_each over local.functions
 * (main.tf), built by `npm run build` into dist/functions/<name>/ and uploaded
 * by main.tf. Each runs as its own service account (iam.tf) and reads the same
 * environment; the sweeper adds its own settings (local.function_own_env).
 *
 * Ingress: var.function_ingress (default ALLOW_INTERNAL_ONLY, which admits
 * Pub/Sub push, Workflows and Cloud Scheduler calls from this project).
 * Whatever the ingress, invocation needs roles/run.invoker on the function's
 * Cloud Run service, which only the push-invoker service account (intake,
 * job-trigger, rollout-stops, dead-letter), the workflows service account (actions) or the
 * scheduler service account (sweeper) holds.
 *
 * The one exception is slack-interactions: Slack calls it from the internet
 * with no Google identity, so it admits all traffic and allUsers may invoke
 * it (iam.tf); the function itself refuses (401) every request that does not
 * carry Slack's signature made with the signing secret.
 *
 * Each function mounts the secrets its entry in local.functions lists, once
 * the secret has a version (secrets.tf); iam.tf lets it read exactly those.
 */

locals {
  function_env = {
    GLIDEPATH_PROJECT           = var.project_id
    GLIDEPATH_LOCATION          = var.region
    GLIDEPATH_POLICY_FILE       = "glidepath.yaml"
    GLIDEPATH_DEAD_LETTER_TOPIC = google_pubsub_topic.dead_letters.name
    GLIDEPATH_DEPLOY_TOPIC      = google_pubsub_topic.topics["deploy_requests"].name
    GLIDEPATH_WORKFLOW_SA       = google_service_account.workflows.email
    GLIDEPATH_REPORT_BUCKET     = google_storage_bucket.reports.name
  }

  # A function's own settings, on top of function_env. Only the sweeper has
  # any: the only caller it accepts and its patience.
  function_own_env = {
    sweeper = {
      GLIDEPATH_SCHEDULER_SA                  = google_service_account.scheduler.email
      GLIDEPATH_SWEEP_HEARTBEAT_GRACE_SECONDS = tostring(var.sweep_heartbeat_grace_seconds)
      GLIDEPATH_SWEEP_LAUNCH_GRACE_SECONDS    = tostring(var.sweep_launch_grace_seconds)
    }
  }
}

resource "google_cloudfunctions2_function" "functions" {
  for_each = local.functions

  project     = var.project_id
  location    = var.region
  name        = each.value.name
  description = each.value.description
  labels      = local.labels

  build_config {
    runtime         = "nodejs20"
    entry_point     = each.value.entry_point
    service_account = google_service_account.builder.id

    source {
      storage_source {
        bucket = google_storage_bucket.functions_source.name
        object = google_storage_bucket_object.functions[each.key].name
      }
    }
  }

  service_config {
    available_memory               = each.value.memory
    timeout_seconds                = each.value.timeout_seconds
    max_instance_count             = each.value.max_instances
    ingress_settings               = each.value.ingress
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.functions[each.key].email
    environment_variables          = merge(local.function_env, try(local.function_own_env[each.key], {}))

    dynamic "secret_environment_variables" {
      for_each = [for secret in each.value.secrets : secret if local.secrets[secret].configured]
      content {
        key        = local.secrets[secret_environment_variables.value].env
        project_id = var.project_id
        secret     = google_secret_manager_secret.secrets[secret_environment_variables.value].secret_id
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.builder,
    google_secret_manager_secret_iam_member.slack_accessor,
    google_secret_manager_secret_iam_member.slack_signing_secret_accessor,
    google_secret_manager_secret_iam_member.pagerduty_accessor,
  ]
}
