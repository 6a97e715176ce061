/**
 * One Cloud Scheduler job per entry in the policy's `jobs:` (locals in
 * main.tf). Each publishes {"job": NAME} to glidepath-job-triggers, with the
 * attribute job = NAME; the job-trigger function takes it from there. The
 * scheduler runs in var.region; the Cloud Run Job itself runs where the
 * policy says.
 *
 * One more job calls the sweeper over HTTPS, with OIDC.
 */

resource "google_cloud_scheduler_job" "jobs" {
  for_each = local.policy_jobs

  project     = var.project_id
  region      = var.region
  name        = "glidepath-${each.key}"
  description = "Glidepath: triggers the Cloud Run Job ${each.key} (${each.value.project}/${each.value.region})."
  schedule    = each.value.schedule
  time_zone   = try(each.value.timeZone, "Etc/UTC")

  pubsub_target {
    topic_name = google_pubsub_topic.topics["job_triggers"].id
    data       = base64encode(jsonencode({ job = each.key }))
    attributes = {
      job = each.key
    }
  }

  depends_on = [google_project_service.enabled]
}

# The sweeper (functions.tf), every var.sweep_schedule. Cloud Scheduler calls
# the function's URL with an OIDC token of the scheduler service account, the
# only holder of roles/run.invoker on it (iam.tf) and the only caller the
# function accepts (GLIDEPATH_SCHEDULER_SA). The name has an underscore, which
# a policy job's name cannot have, so it never collides with glidepath-<job>.
# The sweeper answers 503 when a rollout could not be recovered: the job
# retries a little, then the next sweep tries again anyway.
resource "google_cloud_scheduler_job" "sweeper" {
  project          = var.project_id
  region           = var.region
  name             = "glidepath_sweeper"
  description      = "Glidepath: runs the sweeper, which recovers stuck rollouts and re-sends queued Slack notices."
  schedule         = var.sweep_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "540s"

  retry_config {
    retry_count          = 2
    min_backoff_duration = "30s"
    max_backoff_duration = "120s"
    max_doublings        = 2
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.functions["sweeper"].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.functions["sweeper"].service_config[0].uri
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_cloud_run_service_iam_member.sweeper_invoker,
  ]
}
