/**
 * Glidepath on GCP: event-driven progressive delivery for Cloud Run.
 *
 * One `terraform apply` creates the topics and push subscriptions, the five
 * gen2 functions (each with its own service account), the `rollout` and
 * `job-run` workflows, Firestore with its indexes and TTL policy, one
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

  # The functions, their functions-framework targets and their source directories.
  functions = {
    intake               = { name = "intake", entry_point = "intake" }
    "job-trigger"        = { name = "job-trigger", entry_point = "jobTrigger" }
    "dead-letter"        = { name = "dead-letter", entry_point = "deadLetter" }
    actions              = { name = "actions", entry_point = "actions" }
    sweeper              = { name = "sweeper", entry_point = "sweeper" }
    "slack-interactions" = { name = "slack-interactions", entry_point = "slackInteractions" }
    "rollout-stops"      = { name = "rollout-stops", entry_point = "rolloutStops" }
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
