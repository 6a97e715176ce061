/**
 * Glidepath on GCP: event-driven progressive delivery for Cloud Run.
 *
 * One `terraform apply` creates the topics and push subscriptions, the six
 * gen2 functions (each with its own service account), the `rollout`,
 * `job-run` and `job-rollout` workflows, Firestore with its indexes and TTL policy, one
 * Cloud Scheduler job per job of the policy plus the one that runs the
 * sweeper, the Slack secret (without a value) and the monitoring. It never manages the Cloud Run services that
 * Glidepath rolls out, nor their traffic: it only adds roles/run.invoker on each for the actions
 * service account (iam.tf), so the smoke test may call the candidate.
 *
 * The module configures no provider: every resource names its project and
 * region explicitly.
 */

locals {
  policy = yamldecode(file(var.policy_file))

  # Every job of the policy becomes a Cloud Scheduler job (scheduler.tf).
  policy_jobs = { for job in try(local.policy.jobs, []) : job.name => job }

  # Every Cloud Run service the policy rolls out, in every region of its waves, by
  # "<project>/<region>/<service>". The smoke test calls each candidate as the actions
  # service account, which gets roles/run.invoker on exactly these (iam.tf).
  policy_services = merge([
    for s in try(local.policy.services, []) : {
      for region in flatten(s.waves) : "${s.project}/${region}/${s.name}" => {
        project = s.project
        region  = region
        name    = s.name
      }
    }
  ]...)

  # Topic names are fixed: Artifact Registry publishes to `gcr`, Cloud Build to `cloud-builds`.
  topic_names = {
    gcr             = "gcr"
    cloud_builds    = "cloud-builds"
    deploy_requests = "glidepath-deploy-requests"
    job_triggers    = "glidepath-job-triggers"
    rollout_stops   = "glidepath-rollout-stops"
    dead_letters    = "glidepath-dead-letters"
  }

  # The functions (functions.tf), by the directory of their build: their
  # functions-framework targets, their settings, the display name of their own
  # service account (iam.tf) and the secrets they mount (secrets.tf). Only
  # literals and variables here: the source archives are read from this map
  # at plan time.
  functions = {
    intake = {
      name            = "intake"
      entry_point     = "intake"
      description     = "Glidepath intake: gcr, cloud-builds and glidepath-deploy-requests messages start rollouts."
      account         = "Glidepath intake function"
      memory          = "256M"
      timeout_seconds = 60
      max_instances   = var.function_max_instances
      ingress         = var.function_ingress
      secrets         = ["slack-webhook"]
    }
    "job-trigger" = {
      name            = "job-trigger"
      entry_point     = "jobTrigger"
      description     = "Glidepath job-trigger: Cloud Scheduler messages start job-run workflows."
      account         = "Glidepath job-trigger function"
      memory          = "256M"
      timeout_seconds = 60
      max_instances   = var.function_max_instances
      ingress         = var.function_ingress
      secrets         = ["slack-webhook"]
    }
    "dead-letter" = {
      name            = "dead-letter"
      entry_point     = "deadLetter"
      description     = "Glidepath dead-letter: records dead-lettered messages in Firestore and tells Slack."
      account         = "Glidepath dead-letter function"
      memory          = "256M"
      timeout_seconds = 60
      max_instances   = var.function_max_instances
      ingress         = var.function_ingress
      secrets         = ["slack-webhook"]
    }
    # HTTP. Invoked only by the workflows (OIDC); the function also checks that the
    # caller is GLIDEPATH_WORKFLOW_SA. Deploys and analyses can take minutes: 540 s.
    actions = {
      name            = "actions"
      entry_point     = "actions"
      description     = "Glidepath actions: deploy, smoke, shift, analyze, promote, rollback, notify and job operations for the workflows."
      account         = "Glidepath actions function (deploys revisions, moves traffic, runs jobs)"
      memory          = "512M"
      timeout_seconds = 540
      max_instances   = var.function_max_instances
      ingress         = var.function_ingress
      secrets         = ["slack-webhook", "pagerduty-routing-key"]
    }
    # HTTP. Invoked only by Cloud Scheduler (OIDC, scheduler.tf); the function also
    # checks that the caller is GLIDEPATH_SCHEDULER_SA. A sweep may wait on Cloud
    # Run operations while it restores traffic: 540 s, like actions. One instance:
    # an overlapping call is refused (429) and retried by the scheduler, though
    # two sweeps at once would be harmless.
    sweeper = {
      name            = "sweeper"
      entry_point     = "sweeper"
      description     = "Glidepath sweeper: brings stuck rollouts back to the safe state and re-sends queued Slack notices."
      account         = "Glidepath sweeper function (recovers stuck rollouts, re-sends Slack notices)"
      memory          = "512M"
      timeout_seconds = 540
      max_instances   = 1
      ingress         = var.function_ingress
      secrets         = ["slack-webhook", "pagerduty-routing-key"]
    }
    # HTTP, public: the Request URL of the Slack app's interactivity. Every request
    # is checked against SLACK_SIGNING_SECRET (v0 HMAC-SHA256, five-minute replay
    # window) before anything is read. Slack wants the answer within 3 s: a
    # click only records (a gate decision and its callback, or a stop: execution
    # cancelled, record ended, one Pub/Sub publish), and rollout-stops restores
    # a stopped rollout's regions. 60 s is ample.
    "slack-interactions" = {
      name            = "slack-interactions"
      entry_point     = "slackInteractions"
      description     = "Glidepath slack-interactions: signed Slack clicks approve or reject gates and stop rollouts."
      account         = "Glidepath slack-interactions function (Slack buttons: gates, abort, roll back)"
      memory          = "512M"
      timeout_seconds = 60
      max_instances   = var.function_max_instances
      ingress         = "ALLOW_ALL"
      secrets         = ["slack-webhook", "slack-signing-secret"]
    }
    # Pub/Sub push from glidepath-rollout-stops: settles a stop recorded by
    # slack-interactions, restoring every region with the same Cloud Run calls
    # as the sweeper (one UpdateService and its operation per region), posting
    # the end and starting a queued rollout. 540 s, like the sweeper; the
    # subscription's ack deadline is 600 s.
    "rollout-stops" = {
      name            = "rollout-stops"
      entry_point     = "rolloutStops"
      description     = "Glidepath rollout-stops: restores the regions of a rollout stopped with a Slack button."
      account         = "Glidepath rollout-stops function (restores the regions of a rollout stopped in Slack)"
      memory          = "512M"
      timeout_seconds = 540
      max_instances   = var.function_max_instances
      ingress         = var.function_ingress
      secrets         = ["slack-webhook"]
    }
  }

  # The Pub/Sub service agent: creates OIDC tokens for push and moves messages to the dead-letter topic.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # Projects where the actions service account deploys revisions and reads metrics.
  deploy_target_projects = toset(concat([var.project_id], var.deploy_target_project_ids))

  labels = merge(var.labels, { managed-by = "terraform", app = "glidepath" })

  apis = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    "workflowexecutions.googleapis.com",
    "workflows.googleapis.com",
  ])
}

data "google_project" "this" {
  project_id = var.project_id
}

resource "google_project_service" "enabled" {
  for_each = var.enable_apis ? local.apis : toset([])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# Source archives of the functions: uniform access, never public.
resource "google_storage_bucket" "functions_source" {
  project                     = var.project_id
  name                        = "${var.project_id}-glidepath-functions"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = local.labels

  depends_on = [google_project_service.enabled]
}

data "archive_file" "functions" {
  for_each = local.functions

  type        = "zip"
  source_dir  = "${var.functions_source_dir}/${each.key}"
  output_path = "${path.module}/.build/${each.key}.zip"
}

# The object name carries the archive's hash, so a new build redeploys the function.
resource "google_storage_bucket_object" "functions" {
  for_each = local.functions

  name   = "${each.key}-${data.archive_file.functions[each.key].output_md5}.zip"
  bucket = google_storage_bucket.functions_source.name
  source = data.archive_file.functions[each.key].output_path
}

# The bundled policy and the policy the scheduler jobs come from must be the same file.
check "bundled_policy_matches" {
  assert {
    condition     = alltrue([for f in keys(local.functions) : !fileexists("${var.functions_source_dir}/${f}/glidepath.yaml") || filemd5("${var.functions_source_dir}/${f}/glidepath.yaml") == filemd5(var.policy_file)])
    error_message = "The glidepath.yaml bundled in functions_source_dir differs from policy_file: run `npm run build` with the same policy."
  }
}
