output "function_urls" {
  description = "The run.app URLs of the seven functions, by function name (slack-interactions is the Slack app's interactivity Request URL)."
  value       = { for name, function in google_cloudfunctions2_function.functions : name => function.service_config[0].uri }
}

output "workflows" {
  description = "Resource ids of the rollout, job-run and job-rollout workflows."
  value       = { for name, workflow in google_workflows_workflow.workflows : name => workflow.id }
}

output "service_accounts" {
  description = "Emails of the service accounts Glidepath runs as, by role."
  value = merge({ for name, account in google_service_account.functions : name => account.email }, {
    workflows    = google_service_account.workflows.email
    push_invoker = google_service_account.push_invoker.email
    scheduler    = google_service_account.scheduler.email
    builder      = google_service_account.builder.email
  })
}

output "topics" {
  description = "Ids of the topics Glidepath reads, by topic name."
  value = merge(local.intake_topic_ids, {
    (local.topic_names.job_triggers)        = google_pubsub_topic.topics["job_triggers"].id
    (local.topic_names.rollout_stops)       = google_pubsub_topic.topics["rollout_stops"].id
    (google_pubsub_topic.dead_letters.name) = google_pubsub_topic.dead_letters.id
  })
}

output "scheduler_jobs" {
  description = "Cloud Scheduler job ids, by policy job name."
  value       = { for name, job in google_cloud_scheduler_job.jobs : name => job.id }
}

output "sweeper_job" {
  description = "Id of the Cloud Scheduler job that calls the sweeper (run it now: gcloud scheduler jobs run glidepath_sweeper --location REGION)."
  value       = google_cloud_scheduler_job.sweeper.id
}

output "slack_secret_id" {
  description = "The Secret Manager secret that holds the Slack webhook URL (add a version yourself; Terraform never sees the value)."
  value       = google_secret_manager_secret.secrets["slack-webhook"].id
}

output "slack_signing_secret_id" {
  description = "The Secret Manager secret that holds the Slack app's signing secret (add a version yourself; Terraform never sees the value)."
  value       = google_secret_manager_secret.secrets["slack-signing-secret"].id
}

output "pagerduty_secret_id" {
  description = "The Secret Manager secret that holds the PagerDuty Events API v2 routing key (add a version yourself; Terraform never sees the value)."
  value       = google_secret_manager_secret.secrets["pagerduty-routing-key"].id
}

output "dashboard_id" {
  description = "Id of the Glidepath Cloud Monitoring dashboard."
  value       = google_monitoring_dashboard.glidepath.id
}

output "next_steps" {
  description = "What to do after the first apply: connect the sources and set the Slack webhook."
  value       = <<-EOT
    Artifact Registry publishes to the topic `gcr` of project ${var.project_id} automatically, now that it exists.
    Cloud Build publishes to the topic `cloud-builds` automatically.
    Slack: printf %s "$SLACK_WEBHOOK_URL" | gcloud secrets versions add ${google_secret_manager_secret.secrets["slack-webhook"].secret_id} --data-file=- --project ${var.project_id}
    then apply again (npm run deploy) to mount it as SLACK_WEBHOOK_URL.
    Slack buttons: set the Slack app's Interactivity Request URL to ${google_cloudfunctions2_function.functions["slack-interactions"].service_config[0].uri}, then
    printf %s "$SLACK_SIGNING_SECRET" | gcloud secrets versions add ${google_secret_manager_secret.secrets["slack-signing-secret"].secret_id} --data-file=- --project ${var.project_id}
    and apply again with -var slack_signing_secret_configured=true.
    PagerDuty: printf %s "$PAGERDUTY_ROUTING_KEY" | gcloud secrets versions add ${google_secret_manager_secret.secrets["pagerduty-routing-key"].secret_id} --data-file=- --project ${var.project_id}
    and apply again with -var pagerduty_routing_key_configured=true.
  EOT
}
