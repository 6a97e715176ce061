/**
 * The secrets live in Secret Manager. Terraform creates only the secrets,
 * never a version: their values are never in code or in the state. Add a
 * value with
 *   printf %s "$VALUE" | gcloud secrets versions add glidepath-KEY --data-file=- --project PROJECT
 * then apply again with the secret's `*_configured` variable set to true,
 * which mounts it on the functions that read it (functions.tf).
 */

locals {
  # Each secret, by key (its id is glidepath-<key>): the environment variable it
  # becomes, and whether it has a version yet (only then is it mounted).
  secrets = {
    # The Slack incoming webhook URL. scripts/deploy.ts detects its version and sets slack_webhook_configured.
    "slack-webhook" = { env = "SLACK_WEBHOOK_URL", configured = var.slack_webhook_configured }
    # The Slack app's signing secret (Basic Information → App Credentials): the
    # slack-interactions function verifies every click with it (slack_signing_secret_configured).
    "slack-signing-secret" = { env = "SLACK_SIGNING_SECRET", configured = var.slack_signing_secret_configured }
    # The PagerDuty Events API v2 routing key (the integration key of an "Events API v2"
    # integration on the service to page; pagerduty_routing_key_configured). Until then
    # nothing is paged (docs/slack.md, "PagerDuty").
    "pagerduty-routing-key" = { env = "PAGERDUTY_ROUTING_KEY", configured = var.pagerduty_routing_key_configured }
  }
}

resource "google_secret_manager_secret" "secrets" {
  for_each = local.secrets

  project   = var.project_id
  secret_id = "glidepath-${each.key}"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}
