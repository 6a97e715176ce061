/**
 * Where each resource written once as its own block now stands: an instance
 * of the one for_each of its kind. On an existing deployment `terraform plan`
 * shows these as moved, never as destroyed and created, so nothing is lost:
 * not the secrets' versions, not the service accounts' grants, not the
 * subscriptions' backlog. (moved blocks need Terraform >= 1.1; versions.tf
 * asks for 1.5.) Keep them: a deployment may skip versions.
 */

# The secrets (secrets.tf).
moved {
  from = google_secret_manager_secret.slack_webhook
  to   = google_secret_manager_secret.secrets["slack-webhook"]
}

moved {
  from = google_secret_manager_secret.slack_signing_secret
  to   = google_secret_manager_secret.secrets["slack-signing-secret"]
}

moved {
  from = google_secret_manager_secret.pagerduty_routing_key
  to   = google_secret_manager_secret.secrets["pagerduty-routing-key"]
}

# The workflows (workflows.tf).
moved {
  from = google_workflows_workflow.rollout
  to   = google_workflows_workflow.workflows["rollout"]
}

moved {
  from = google_workflows_workflow.job_run
  to   = google_workflows_workflow.workflows["job-run"]
}

moved {
  from = google_workflows_workflow.job_rollout
  to   = google_workflows_workflow.workflows["job-rollout"]
}

# The functions (functions.tf).
moved {
  from = google_cloudfunctions2_function.intake
  to   = google_cloudfunctions2_function.functions["intake"]
}

moved {
  from = google_cloudfunctions2_function.job_trigger
  to   = google_cloudfunctions2_function.functions["job-trigger"]
}

moved {
  from = google_cloudfunctions2_function.dead_letter
  to   = google_cloudfunctions2_function.functions["dead-letter"]
}

moved {
  from = google_cloudfunctions2_function.actions
  to   = google_cloudfunctions2_function.functions["actions"]
}

moved {
  from = google_cloudfunctions2_function.sweeper
  to   = google_cloudfunctions2_function.functions["sweeper"]
}

moved {
  from = google_cloudfunctions2_function.slack_interactions
  to   = google_cloudfunctions2_function.functions["slack-interactions"]
}

# The function service accounts (iam.tf): every grant made to them stays.
moved {
  from = google_service_account.intake
  to   = google_service_account.functions["intake"]
}

moved {
  from = google_service_account.job_trigger
  to   = google_service_account.functions["job-trigger"]
}

moved {
  from = google_service_account.dead_letter
  to   = google_service_account.functions["dead-letter"]
}

moved {
  from = google_service_account.actions
  to   = google_service_account.functions["actions"]
}

moved {
  from = google_service_account.sweeper
  to   = google_service_account.functions["sweeper"]
}

moved {
  from = google_service_account.slack_interactions
  to   = google_service_account.functions["slack-interactions"]
}

# The subscriptions that feed a function (pubsub.tf): the intake ones were one for_each keyed by topic, job-trigger's its own block.
moved {
  from = google_pubsub_subscription.intake["gcr"]
  to   = google_pubsub_subscription.feeds["gcr"]
}

moved {
  from = google_pubsub_subscription.intake["cloud-builds"]
  to   = google_pubsub_subscription.feeds["cloud-builds"]
}

moved {
  from = google_pubsub_subscription.intake["glidepath-deploy-requests"]
  to   = google_pubsub_subscription.feeds["glidepath-deploy-requests"]
}

moved {
  from = google_pubsub_subscription.job_triggers
  to   = google_pubsub_subscription.feeds["glidepath-job-triggers"]
}

# The log-based metrics and the alerts on them (monitoring.tf).
moved {
  from = google_logging_metric.rollouts_finished
  to   = google_logging_metric.log_metrics["rollouts_finished"]
}

moved {
  from = google_logging_metric.rollouts_failed
  to   = google_logging_metric.log_metrics["rollouts_failed"]
}

moved {
  from = google_logging_metric.step_verdicts
  to   = google_logging_metric.log_metrics["step_verdicts"]
}

moved {
  from = google_logging_metric.function_errors
  to   = google_logging_metric.log_metrics["function_errors"]
}

moved {
  from = google_monitoring_alert_policy.rollout_failed
  to   = google_monitoring_alert_policy.metric_alerts["rollout_failed"]
}

moved {
  from = google_monitoring_alert_policy.function_errors
  to   = google_monitoring_alert_policy.metric_alerts["function_errors"]
}

# The topics Glidepath creates (pubsub.tf), but the dead-letter one.
moved {
  from = google_pubsub_topic.deploy_requests
  to   = google_pubsub_topic.topics["deploy_requests"]
}

moved {
  from = google_pubsub_topic.job_triggers
  to   = google_pubsub_topic.topics["job_triggers"]
}

moved {
  from = google_pubsub_topic.rollout_stops
  to   = google_pubsub_topic.topics["rollout_stops"]
}
