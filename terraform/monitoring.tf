/**
 * Log-based metrics, alert policies and a dashboard.
 *
 * The functions write structured JSON logs (functions/shared/log.ts); Cloud
 * Run turns them into jsonPayload. Gen2 functions log as cloud_run_revision
 * resources named after the function.
 */

locals {
  function_log_filter = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(${join(" OR ", [for f in values(local.functions) : "\"${f.name}\""])})"

  alert_documentation = "Glidepath: see docs/deploy.md. Firestore collections rollouts, jobRuns and deadLetters hold the details; `glidepath status` shows them."
}

locals {
  # The log-based metrics, by name (glidepath/<name>): what they count, on top
  # of local.function_log_filter, and their labels (in the order the API keeps
  # them) with how each is extracted.
  log_metrics = {
    rollouts_finished = {
      description      = "Glidepath rollouts that reached an end state, by status and service."
      display_name     = "Glidepath rollouts finished"
      filter           = "jsonPayload.event=\"rollout_finished\""
      labels           = [{ key = "status", description = "PROMOTED, ROLLED_BACK, FAILED, SUPERSEDED or ABORTED" }, { key = "service", description = "The Cloud Run service rolled out" }]
      label_extractors = { status = "EXTRACT(jsonPayload.status)", service = "EXTRACT(jsonPayload.service)" }
    }
    rollouts_failed = {
      description      = "Glidepath rollouts that ended ROLLED_BACK or FAILED."
      display_name     = "Glidepath rollouts failed"
      filter           = "jsonPayload.event=\"rollout_finished\" AND jsonPayload.status=(\"ROLLED_BACK\" OR \"FAILED\")"
      labels           = [{ key = "service", description = "The Cloud Run service rolled out" }]
      label_extractors = { service = "EXTRACT(jsonPayload.service)" }
    }
    step_verdicts = {
      description      = "Analysis verdicts of Glidepath rollout steps (PASS, FAIL, INCONCLUSIVE)."
      display_name     = "Glidepath step verdicts"
      filter           = "jsonPayload.event=\"step_analyzed\""
      labels           = [{ key = "verdict", description = "PASS, FAIL or INCONCLUSIVE" }]
      label_extractors = { verdict = "EXTRACT(jsonPayload.verdict)" }
    }
    function_errors = {
      description      = "Log entries of severity ERROR or above from the Glidepath functions."
      display_name     = "Glidepath function errors"
      filter           = "severity>=ERROR"
      labels           = [{ key = "function", description = "The function that logged the error" }]
      label_extractors = { function = "EXTRACT(resource.labels.service_name)" }
    }
  }
}

resource "google_logging_metric" "log_metrics" {
  for_each = local.log_metrics

  project     = var.project_id
  name        = "glidepath/${each.key}"
  description = each.value.description
  filter      = "${local.function_log_filter} AND ${each.value.filter}"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = each.value.display_name

    dynamic "labels" {
      for_each = each.value.labels
      content {
        key         = labels.value.key
        value_type  = "STRING"
        description = labels.value.description
      }
    }
  }

  label_extractors = each.value.label_extractors

  depends_on = [google_project_service.enabled]
}

# Messages waiting on the dead-letter subscription: the dead-letter function is not keeping up or keeps failing.
resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  project      = var.project_id
  display_name = "Glidepath: dead-letter backlog"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "Undelivered messages on ${google_pubsub_subscription.dead_letters.name}"

    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.dead_letters.name}\" AND metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "600s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    content   = "Dead letters are waiting on ${google_pubsub_subscription.dead_letters.name}: the dead-letter function is failing. ${local.alert_documentation}"
    mime_type = "text/markdown"
  }

  notification_channels = var.notification_channels
  user_labels           = local.labels
}

locals {
  # The alerts on a log-based metric (local.log_metrics): a sum over 5 minutes
  # above the threshold, per value of one label, closed after 30 quiet minutes.
  metric_alerts = {
    rollout_failed = {
      display_name = "Glidepath: rollout rolled back or failed"
      severity     = "WARNING"
      condition    = "A rollout ended ROLLED_BACK or FAILED"
      metric       = "rollouts_failed"
      threshold    = 0
      group_by     = "metric.label.service"
      summary      = "A Glidepath rollout ended ROLLED_BACK or FAILED."
    }
    function_errors = {
      display_name = "Glidepath: function errors"
      severity     = "ERROR"
      condition    = "Errors logged by a Glidepath function"
      metric       = "function_errors"
      threshold    = 5
      group_by     = "metric.label.function"
      summary      = "More than 5 errors in 5 minutes from a Glidepath function."
    }
  }
}

resource "google_monitoring_alert_policy" "metric_alerts" {
  for_each = local.metric_alerts

  project      = var.project_id
  display_name = each.value.display_name
  combiner     = "OR"
  severity     = each.value.severity

  conditions {
    display_name = each.value.condition

    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.log_metrics[each.value.metric].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = each.value.threshold
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = [each.value.group_by]
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    content   = "${each.value.summary} ${local.alert_documentation}"
    mime_type = "text/markdown"
  }

  notification_channels = var.notification_channels
  user_labels           = local.labels
}

locals {
  # The dashboard's charts, left to right and top to bottom: one time series each.
  dashboard_charts = [
    {
      position    = { xPos = 0, yPos = 0, width = 6, height = 4 }
      title       = "Rollouts finished, by status"
      plot        = "STACKED_BAR"
      filter      = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.log_metrics["rollouts_finished"].name}\" resource.type=\"cloud_run_revision\""
      aggregation = { alignmentPeriod = "3600s", perSeriesAligner = "ALIGN_SUM", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.status"] }
    },
    {
      position    = { xPos = 6, yPos = 0, width = 6, height = 4 }
      title       = "Step verdicts"
      plot        = "STACKED_BAR"
      filter      = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.log_metrics["step_verdicts"].name}\" resource.type=\"cloud_run_revision\""
      aggregation = { alignmentPeriod = "3600s", perSeriesAligner = "ALIGN_SUM", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.verdict"] }
    },
    {
      position    = { xPos = 0, yPos = 4, width = 6, height = 4 }
      title       = "Dead letters published"
      plot        = "STACKED_BAR"
      filter      = "metric.type=\"pubsub.googleapis.com/topic/send_message_operation_count\" resource.type=\"pubsub_topic\" resource.label.topic_id=\"${google_pubsub_topic.dead_letters.name}\""
      aggregation = { alignmentPeriod = "3600s", perSeriesAligner = "ALIGN_SUM", crossSeriesReducer = "REDUCE_SUM" }
    },
    {
      position    = { xPos = 6, yPos = 4, width = 6, height = 4 }
      title       = "Dead-letter backlog (undelivered)"
      plot        = "LINE"
      filter      = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" resource.type=\"pubsub_subscription\" resource.label.subscription_id=\"${google_pubsub_subscription.dead_letters.name}\""
      aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_MAX" }
    },
    {
      position    = { xPos = 0, yPos = 8, width = 12, height = 4 }
      title       = "Function errors, by function"
      plot        = "STACKED_BAR"
      filter      = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.log_metrics["function_errors"].name}\" resource.type=\"cloud_run_revision\""
      aggregation = { alignmentPeriod = "300s", perSeriesAligner = "ALIGN_SUM", crossSeriesReducer = "REDUCE_SUM", groupByFields = ["metric.label.function"] }
    },
  ]
}

resource "google_monitoring_dashboard" "glidepath" {
  project = var.project_id

  dashboard_json = jsonencode({
    displayName = "Glidepath"
    mosaicLayout = {
      columns = 12
      tiles = [for chart in local.dashboard_charts : merge(chart.position, {
        widget = {
          title = chart.title
          xyChart = {
            dataSets = [{
              plotType        = chart.plot
              timeSeriesQuery = { timeSeriesFilter = { filter = chart.filter, aggregation = chart.aggregation } }
            }]
          }
        }
      })]
    }
  })
}
