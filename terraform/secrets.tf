/**
 * The Slack webhook URL lives in Secret Manager. Terraform creates only the
 * secret, never a version: the URL is never in code or in the state. Add it
 * with
 *   printf %s "$SLACK_WEBHOOK_URL" | gcloud secrets versions add glidepath-slack-webhook --data-file=- --project PROJECT
 * then apply again with slack_webhook_configured = true (scripts/deploy.ts
 * detects the version and sets it).
 */

resource "google_secret_manager_secret" "slack_webhook" {
  project   = var.project_id
  secret_id = "glidepath-slack-webhook"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

# The Slack app's signing secret (Basic Information → App Credentials): the
# slack-interactions function verifies every click with it. Add it with
#   printf %s "$SLACK_SIGNING_SECRET" | gcloud secrets versions add glidepath-slack-signing-secret --data-file=- --project PROJECT
# then apply again with slack_signing_secret_configured = true.
resource "google_secret_manager_secret" "slack_signing_secret" {
  project   = var.project_id
  secret_id = "glidepath-slack-signing-secret"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

# The PagerDuty Events API v2 routing key (the integration key of an "Events
# API v2" integration on the service to page). Add it with
#   printf %s "$PAGERDUTY_ROUTING_KEY" | gcloud secrets versions add glidepath-pagerduty-routing-key --data-file=- --project PROJECT
# then apply again with pagerduty_routing_key_configured = true. Until then
# nothing is paged (docs/slack.md, "PagerDuty").
resource "google_secret_manager_secret" "pagerduty_routing_key" {
  project   = var.project_id
  secret_id = "glidepath-pagerduty-routing-key"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}
