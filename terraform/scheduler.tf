/**
 * One Cloud Scheduler job per entry in the policy's `jobs:` (locals in
 * main.tf). Each publishes {"job": NAME} to glidepath-job-triggers, with the
 * attribute job = NAME; the job-trigger function takes it from there. The
 * scheduler runs in var.region; the Cloud Run Job itself runs where the
 * policy says.
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
    topic_name = google_pubsub_topic.job_triggers.id
    data       = base64encode(jsonencode({ job = each.key }))
    attributes = {
      job = each.key
    }
  }

  depends_on = [google_project_service.enabled]
}
