/**
 * The seven gen2 functions (Node 20), built by `npm run build` into
 * dist/functions/<name>/ and uploaded by main.tf. Each runs as its own
 * service account (iam.tf) and reads the same environment; the sweeper
 * adds its own settings (local.sweeper_env).
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
 */

locals {
  function_env = {
    GLIDEPATH_PROJECT           = var.project_id
    GLIDEPATH_LOCATION          = var.region
    GLIDEPATH_POLICY_FILE       = "glidepath.yaml"
    GLIDEPATH_DEAD_LETTER_TOPIC = google_pubsub_topic.dead_letters.name
    GLIDEPATH_DEPLOY_TOPIC      = google_pubsub_topic.deploy_requests.name
    GLIDEPATH_WORKFLOW_SA       = google_service_account.workflows.email
    GLIDEPATH_REPORT_BUCKET     = google_storage_bucket.reports.name
  }

  # The sweeper's own settings, on top of function_env: the only caller it accepts and its patience.
  sweeper_env = {
    GLIDEPATH_SCHEDULER_SA                  = google_service_account.scheduler.email
    GLIDEPATH_SWEEP_HEARTBEAT_GRACE_SECONDS = tostring(var.sweep_heartbeat_grace_seconds)
    GLIDEPATH_SWEEP_LAUNCH_GRACE_SECONDS    = tostring(var.sweep_launch_grace_seconds)
  }

  # SLACK_WEBHOOK_URL comes from Secret Manager, once the secret has a version (see secrets.tf).
  slack_secret_env = var.slack_webhook_configured ? [google_secret_manager_secret.secrets["slack-webhook"].secret_id] : []

  # SLACK_SIGNING_SECRET likewise (secrets.tf); without it the interaction function refuses every click.
  slack_signing_secret_env = var.slack_signing_secret_configured ? [google_secret_manager_secret.secrets["slack-signing-secret"].secret_id] : []

  # PAGERDUTY_ROUTING_KEY likewise, for the two functions that page: actions (a
  # rollback, a dead-lettered job run) and the sweeper (a recovered rollout).
  pagerduty_secret_env = var.pagerduty_routing_key_configured ? [google_secret_manager_secret.secrets["pagerduty-routing-key"].secret_id] : []
}

resource "google_cloudfunctions2_function" "intake" {
  project     = var.project_id
  location    = var.region
  name        = local.functions.intake.name
  description = "Glidepath intake: gcr, cloud-builds and glidepath-deploy-requests messages start rollouts."
  labels      = local.labels

  build_config {
    runtime         = "nodejs20"
    entry_point     = local.functions.intake.entry_point
    service_account = google_service_account.builder.id

    source {
      storage_source {
        bucket = google_storage_bucket.functions_source.name
        object = google_storage_bucket_object.functions["intake"].name
      }
    }
  }

  service_config {
    available_memory               = "256M"
    timeout_seconds                = 60
    max_instance_count             = var.function_max_instances
    ingress_settings               = var.function_ingress
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.intake.email
    environment_variables          = local.function_env

    dynamic "secret_environment_variables" {
      for_each = local.slack_secret_env
      content {
        key        = "SLACK_WEBHOOK_URL"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.builder,
    google_secret_manager_secret_iam_member.slack_accessor,
  ]
}

resource "google_cloudfunctions2_function" "job_trigger" {
  project     = var.project_id
  location    = var.region
  name        = local.functions["job-trigger"].name
  description = "Glidepath job-trigger: Cloud Scheduler messages start job-run workflows."
  labels      = local.labels

  build_config {
    runtime         = "nodejs20"
    entry_point     = local.functions["job-trigger"].entry_point
    service_account = google_service_account.builder.id

    source {
      storage_source {
        bucket = google_storage_bucket.functions_source.name
        object = google_storage_bucket_object.functions["job-trigger"].name
      }
    }
  }

  service_config {
    available_memory               = "256M"
    timeout_seconds                = 60
    max_instance_count             = var.function_max_instances
    ingress_settings               = var.function_ingress
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.job_trigger.email
    environment_variables          = local.function_env

    dynamic "secret_environment_variables" {
      for_each = local.slack_secret_env
      content {
        key        = "SLACK_WEBHOOK_URL"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.builder,
    google_secret_manager_secret_iam_member.slack_accessor,
  ]
}

resource "google_cloudfunctions2_function" "dead_letter" {
  project     = var.project_id
  location    = var.region
  name        = local.functions["dead-letter"].name
  description = "Glidepath dead-letter: records dead-lettered messages in Firestore and tells Slack."
  labels      = local.labels

  build_config {
    runtime         = "nodejs20"
    entry_point     = local.functions["dead-letter"].entry_point
    service_account = google_service_account.builder.id

    source {
      storage_source {
        bucket = google_storage_bucket.functions_source.name
        object = google_storage_bucket_object.functions["dead-letter"].name
      }
    }
  }

  service_config {
    available_memory               = "256M"
    timeout_seconds                = 60
    max_instance_count             = var.function_max_instances
    ingress_settings               = var.function_ingress
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.dead_letter.email
    environment_variables          = local.function_env

    dynamic "secret_environment_variables" {
      for_each = local.slack_secret_env
      content {
        key        = "SLACK_WEBHOOK_URL"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.builder,
    google_secret_manager_secret_iam_member.slack_accessor,
  ]
}

# HTTP. Invoked only by the workflows (OIDC); the function also checks that the
# caller is GLIDEPATH_WORKFLOW_SA. Deploys and analyses can take minutes: 540 s.
resource "google_cloudfunctions2_function" "actions" {
  project     = var.project_id
  location    = var.region
  name        = local.functions.actions.name
  description = "Glidepath actions: deploy, smoke, shift, analyze, promote, rollback, notify and job operations for the workflows."
  labels      = local.labels

  build_config {
    runtime         = "nodejs20"
    entry_point     = local.functions.actions.entry_point
    service_account = google_service_account.builder.id

    source {
      storage_source {
        bucket = google_storage_bucket.functions_source.name
        object = google_storage_bucket_object.functions["actions"].name
      }
    }
  }

  service_config {
    available_memory               = "512M"
    timeout_seconds                = 540
    max_instance_count             = var.function_max_instances
    ingress_settings               = var.function_ingress
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.actions.email
    environment_variables          = local.function_env

    dynamic "secret_environment_variables" {
      for_each = local.slack_secret_env
      content {
        key        = "SLACK_WEBHOOK_URL"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }

    dynamic "secret_environment_variables" {
      for_each = local.pagerduty_secret_env
      content {
        key        = "PAGERDUTY_ROUTING_KEY"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.builder,
    google_secret_manager_secret_iam_member.slack_accessor,
    google_secret_manager_secret_iam_member.pagerduty_accessor,
  ]
}

# HTTP. Invoked only by Cloud Scheduler (OIDC, scheduler.tf); the function also
# checks that the caller is GLIDEPATH_SCHEDULER_SA. A sweep may wait on Cloud
# Run operations while it restores traffic: 540 s, like actions. One instance:
# an overlapping call is refused (429) and retried by the scheduler, though
# two sweeps at once would be harmless.
resource "google_cloudfunctions2_function" "sweeper" {
  project     = var.project_id
  location    = var.region
  name        = local.functions.sweeper.name
  description = "Glidepath sweeper: brings stuck rollouts back to the safe state and re-sends queued Slack notices."
  labels      = local.labels

  build_config {
    runtime         = "nodejs20"
    entry_point     = local.functions.sweeper.entry_point
    service_account = google_service_account.builder.id

    source {
      storage_source {
        bucket = google_storage_bucket.functions_source.name
        object = google_storage_bucket_object.functions["sweeper"].name
      }
    }
  }

  service_config {
    available_memory               = "512M"
    timeout_seconds                = 540
    max_instance_count             = 1
    ingress_settings               = var.function_ingress
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.sweeper.email
    environment_variables          = merge(local.function_env, local.sweeper_env)

    dynamic "secret_environment_variables" {
      for_each = local.slack_secret_env
      content {
        key        = "SLACK_WEBHOOK_URL"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }

    dynamic "secret_environment_variables" {
      for_each = local.pagerduty_secret_env
      content {
        key        = "PAGERDUTY_ROUTING_KEY"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.builder,
    google_secret_manager_secret_iam_member.slack_accessor,
    google_secret_manager_secret_iam_member.pagerduty_accessor,
  ]
}

# HTTP, public: the Request URL of the Slack app's interactivity. Every request
# is checked against SLACK_SIGNING_SECRET (v0 HMAC-SHA256, five-minute replay
# window) before anything is read. Slack wants the answer within 3 s: a
# click only records (a gate decision and its callback, or a stop: execution
# cancelled, record ended, one Pub/Sub publish), and the rollout-stops
# function restores a stopped rollout's regions. 60 s is ample.
resource "google_cloudfunctions2_function" "slack_interactions" {
  project     = var.project_id
  location    = var.region
  name        = local.functions["slack-interactions"].name
  description = "Glidepath slack-interactions: signed Slack clicks approve or reject gates and stop rollouts."
  labels      = local.labels

  build_config {
    runtime         = "nodejs20"
    entry_point     = local.functions["slack-interactions"].entry_point
    service_account = google_service_account.builder.id

    source {
      storage_source {
        bucket = google_storage_bucket.functions_source.name
        object = google_storage_bucket_object.functions["slack-interactions"].name
      }
    }
  }

  service_config {
    available_memory               = "512M"
    timeout_seconds                = 60
    max_instance_count             = var.function_max_instances
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.slack_interactions.email
    environment_variables          = local.function_env

    dynamic "secret_environment_variables" {
      for_each = local.slack_secret_env
      content {
        key        = "SLACK_WEBHOOK_URL"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }

    dynamic "secret_environment_variables" {
      for_each = local.slack_signing_secret_env
      content {
        key        = "SLACK_SIGNING_SECRET"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.builder,
    google_secret_manager_secret_iam_member.slack_accessor,
    google_secret_manager_secret_iam_member.slack_signing_secret_accessor,
  ]
}

# Settles a stop recorded by slack-interactions: restores every region with
# the same Cloud Run calls as the sweeper (one UpdateService and its
# operation per region), posts the end and starts a queued rollout. 540 s,
# like the sweeper; the subscription's ack deadline is 600 s.
resource "google_cloudfunctions2_function" "rollout_stops" {
  project     = var.project_id
  location    = var.region
  name        = local.functions["rollout-stops"].name
  description = "Glidepath rollout-stops: restores the regions of a rollout stopped with a Slack button."
  labels      = local.labels

  build_config {
    runtime         = "nodejs20"
    entry_point     = local.functions["rollout-stops"].entry_point
    service_account = google_service_account.builder.id

    source {
      storage_source {
        bucket = google_storage_bucket.functions_source.name
        object = google_storage_bucket_object.functions["rollout-stops"].name
      }
    }
  }

  service_config {
    available_memory               = "512M"
    timeout_seconds                = 540
    max_instance_count             = var.function_max_instances
    ingress_settings               = var.function_ingress
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.rollout_stops.email
    environment_variables          = local.function_env

    dynamic "secret_environment_variables" {
      for_each = local.slack_secret_env
      content {
        key        = "SLACK_WEBHOOK_URL"
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.builder,
    google_secret_manager_secret_iam_member.slack_accessor,
  ]
}
