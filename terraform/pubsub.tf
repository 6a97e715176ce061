/**
 * Topics and push subscriptions.
 *
 * Decision: the functions are fed by push subscriptions that this module
 * creates, not by Eventarc triggers, because Eventarc owns the subscriptions
 * it creates and they cannot carry a dead-letter policy. Each push
 * subscription
 * - pushes to the function's run.app URL with the path
 *   `/projects/PROJECT/topics/TOPIC`: the functions framework turns the raw
 *   push body into a CloudEvent whose `source` names that topic, which is how
 *   the single `intake` function tells gcr, cloud-builds and
 *   glidepath-deploy-requests apart (functions/domain/messages.ts topicOf);
 * - authenticates with an OIDC token of the dedicated push-invoker service
 *   account, the only principal with run.invoker on the three Pub/Sub-driven
 *   functions;
 * - retries with exponential backoff and, after var.max_delivery_attempts,
 *   moves the message to glidepath-dead-letters (except the dead-letter
 *   subscription itself, see below);
 * - never expires (an empty expiration TTL), as a quiet `gcr` topic would
 *   otherwise lose its subscription after 31 days.
 */

resource "google_pubsub_topic" "source" {
  for_each = var.create_source_topics ? toset([local.topic_names.gcr, local.topic_names.cloud_builds]) : toset([])

  project = var.project_id
  name    = each.value
  labels  = local.labels

  depends_on = [google_project_service.enabled]
}

data "google_pubsub_topic" "source" {
  for_each = var.create_source_topics ? toset([]) : toset([local.topic_names.gcr, local.topic_names.cloud_builds])

  project = var.project_id
  name    = each.value
}

# The topics Glidepath creates and a function reads, by their key in
# local.topic_names: deploy requests (intake), job triggers (job-trigger), and
# the stops slack-interactions publishes once it has recorded an Abort / Roll
# back now (rollout-stops restores the regions, docs/slack.md). The
# dead-letter topic is apart: it keeps its messages 31 days.
resource "google_pubsub_topic" "topics" {
  for_each = toset(["deploy_requests", "job_triggers", "rollout_stops"])

  project = var.project_id
  name    = local.topic_names[each.key]
  labels  = local.labels

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "dead_letters" {
  project = var.project_id
  name    = local.topic_names.dead_letters
  labels  = local.labels

  # Keep dead letters on the topic for 31 days (the maximum), so a subscription can seek back to them.
  message_retention_duration = "2678400s"

  depends_on = [google_project_service.enabled]
}

locals {
  source_topic_ids = {
    for name in [local.topic_names.gcr, local.topic_names.cloud_builds] :
    name => var.create_source_topics ? google_pubsub_topic.source[name].id : data.google_pubsub_topic.source[name].id
  }

  # The three topics the intake function reads, by topic name.
  intake_topic_ids = merge(local.source_topic_ids, {
    (local.topic_names.deploy_requests) = google_pubsub_topic.topics["deploy_requests"].id
  })

  # Every topic a function reads but the dead-letter topic, by name, and the function it feeds.
  feeds = {
    "gcr"                       = "intake"
    "cloud-builds"              = "intake"
    "glidepath-deploy-requests" = "intake"
    "glidepath-job-triggers"    = "job-trigger"
    "glidepath-rollout-stops"   = "rollout-stops"
  }

  # A function whose push may take longer than the default 60 s ack deadline:
  # a stop's restore waits on one Cloud Run operation per region, so
  # rollout-stops gets the most Pub/Sub allows (600 s) and is not redelivered
  # while it runs (a redelivery would be harmless, only wasted).
  feed_ack_deadline_seconds = {
    "rollout-stops" = 600
  }

  # The ids of those topics, by name.
  feed_topic_ids = merge(local.intake_topic_ids, {
    (local.topic_names.job_triggers)  = google_pubsub_topic.topics["job_triggers"].id
    (local.topic_names.rollout_stops) = google_pubsub_topic.topics["rollout_stops"].id
  })
}

# Subscriptions are named `<topic>-<function>`: the topic comes first (see topicOf).
resource "google_pubsub_subscription" "feeds" {
  for_each = local.feeds

  project = var.project_id
  name    = "${each.key}-${each.value}"
  topic   = local.feed_topic_ids[each.key]
  labels  = local.labels

  ack_deadline_seconds       = lookup(local.feed_ack_deadline_seconds, each.value, 60)
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letters.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.functions[each.value].service_config[0].uri}/projects/${var.project_id}/topics/${each.key}"

    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.functions[each.value].service_config[0].uri
    }
  }

  depends_on = [
    google_cloud_run_service_iam_member.push_invoker,
    google_service_account_iam_member.pubsub_agent_token_creator,
  ]
}

# The end of the line. This subscription deliberately has NO dead_letter_policy:
# - dead-lettering to its own topic would loop a failing message forever;
# - dead-lettering to yet another topic only moves the problem to a topic nobody reads.
# Instead it keeps every message for 7 days (the subscription maximum; the topic
# keeps 31), retries with backoff up to 10 minutes and never expires, and the
# "dead-letter backlog" alert (monitoring.tf) fires while messages wait here.
resource "google_pubsub_subscription" "dead_letters" {
  project = var.project_id
  name    = "${google_pubsub_topic.dead_letters.name}-dead-letter"
  topic   = google_pubsub_topic.dead_letters.id
  labels  = local.labels

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = "30s"
    maximum_backoff = "600s"
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.functions["dead-letter"].service_config[0].uri}/projects/${var.project_id}/topics/${google_pubsub_topic.dead_letters.name}"

    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.functions["dead-letter"].service_config[0].uri
    }
  }

  depends_on = [
    google_cloud_run_service_iam_member.push_invoker,
    google_service_account_iam_member.pubsub_agent_token_creator,
  ]
}
