/**
 * Service accounts and IAM, least privilege.
 *
 * - One service account per function, plus one for the workflows, one that
 *   Pub/Sub push uses to invoke the functions, one that Cloud Scheduler uses
 *   to invoke the sweeper, and one that builds them.
 * - No primitive roles, never allUsers or allAuthenticatedUsers, but for the
 *   one grant Slack needs: allUsers may invoke slack-interactions, which
 *   verifies Slack's signature on every request.
 * - Roles are granted on the resource (topic, subscription, secret, Cloud Run
 *   service of a function, service account) wherever GCP allows it. The few
 *   project-level grants are listed in the PROJECT-LEVEL ALLOWLIST below, each
 *   with the reason; test/terraform checks that nothing else is granted on a
 *   project.
 */

# One service account per function (local.functions), named glidepath-<function>.
resource "google_service_account" "functions" {
  for_each = local.functions

  project      = var.project_id
  account_id   = "glidepath-${each.key}"
  display_name = each.value.account
}

resource "google_service_account" "workflows" {
  project      = var.project_id
  account_id   = "glidepath-workflows"
  display_name = "Glidepath workflows (rollout, job-run)"
}

resource "google_service_account" "push_invoker" {
  project      = var.project_id
  account_id   = "glidepath-push-invoker"
  display_name = "Glidepath Pub/Sub push invoker"
}

# Cloud Scheduler calls the sweeper with an OIDC token of this account. It
# holds roles/run.invoker on the sweeper and nothing else. (Its tokens are
# minted by the Cloud Scheduler service agent, whose own role Google grants.)
resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "glidepath-scheduler"
  display_name = "Glidepath Cloud Scheduler invoker (sweeper)"
}

resource "google_service_account" "builder" {
  project      = var.project_id
  account_id   = "glidepath-builder"
  display_name = "Glidepath function builds (Cloud Build)"
}

# ---------------------------------------------------------------------------
# PROJECT-LEVEL ALLOWLIST. These are the only project-level grants.
# ---------------------------------------------------------------------------

# Firestore has no per-collection or per-database IAM: roles/datastore.user is
# granted on the project to the seven functions that read and write it.
resource "google_project_iam_member" "datastore_user" {
  for_each = google_service_account.functions

  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${each.value.email}"
}

# Workflows has no per-workflow IAM policy (the lowest level of
# roles/workflows.invoker is the project). intake starts `rollout`, job-trigger
# starts `job-run`, and actions and rollout-stops start the next queued
# rollout when one ends or is stopped.
resource "google_project_iam_member" "workflows_invoker" {
  for_each = {
    intake          = google_service_account.functions["intake"].email
    "job-trigger"   = google_service_account.functions["job-trigger"].email
    actions         = google_service_account.functions["actions"].email
    "rollout-stops" = google_service_account.functions["rollout-stops"].email
  }

  project = var.project_id
  role    = "roles/workflows.invoker"
  member  = "serviceAccount:${each.value}"
}

# Workflows' sys.log and call logging write to Cloud Logging, which is granted per project.
resource "google_project_iam_member" "workflows_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.workflows.email}"
}

# The documented role of a custom Cloud Functions build service account
# (read the source, write logs and the image). Without it builds would run as
# the Compute Engine default service account, which often holds Editor.
resource "google_project_iam_member" "builder" {
  project = var.project_id
  role    = "roles/cloudbuild.builds.builder"
  member  = "serviceAccount:${google_service_account.builder.email}"
}

# What a rollout and a job run need, and nothing more: read and update Cloud
# Run services (new revision, traffic), read revisions and operations, run
# and watch jobs, update a job's template (image rollouts), and read the metrics the analysis compares. Custom roles
# are per project, so there is one in every project Glidepath deploys to.
resource "google_project_iam_custom_role" "deployer" {
  for_each = local.deploy_target_projects

  project     = each.value
  role_id     = "glidepathDeployer"
  title       = "Glidepath deployer"
  description = "Deploys revisions, moves traffic and runs jobs for Glidepath rollouts; reads their metrics."
  permissions = [
    "monitoring.timeSeries.list",
    "run.executions.cancel",
    "run.executions.get",
    "run.executions.list",
    "run.jobs.get",
    "run.jobs.run",
    "run.jobs.runWithOverrides",
    "run.jobs.update",
    "run.operations.get",
    "run.revisions.get",
    "run.revisions.list",
    "run.services.get",
    "run.services.update",
  ]
}

# The custom role above, in each target project, for the actions service account...
resource "google_project_iam_member" "actions_deployer" {
  for_each = local.deploy_target_projects

  project = each.value
  role    = google_project_iam_custom_role.deployer[each.value].id
  member  = "serviceAccount:${google_service_account.functions["actions"].email}"
}

# ...and for the sweeper, which takes a stuck rollout's regions back to the
# recorded split with the same Cloud Run calls (read the service, update its
# traffic, wait for the operation) in the same projects, and puts a dead job
# image rollout's recorded template back (GetJob, UpdateJob), cancelling its
# verification execution if one still runs.
resource "google_project_iam_member" "sweeper_deployer" {
  for_each = local.deploy_target_projects

  project = each.value
  role    = google_project_iam_custom_role.deployer[each.value].id
  member  = "serviceAccount:${google_service_account.functions["sweeper"].email}"
}

# The sweeper reads a rollout's workflow execution (GetExecution), cancels it
# when it has fallen silent (CancelExecution), and, when the rollout it ends
# had a successor queued behind it, starts the successor's execution (the same
# CreateExecution that completing a rollout does). It also re-sends an
# approval gate's decision whose first send failed (resendGateCallbacks:
# executions.callbacks.sendHttpCallback requires workflows.callbacks.send).
# The predefined roles/workflows.invoker also reads step entries, so the
# sweeper gets exactly these four in a custom role.
# Workflows has no finer IAM than the project.
resource "google_project_iam_custom_role" "sweeper_executions" {
  project     = var.project_id
  role_id     = "glidepathSweeperExecutions"
  title       = "Glidepath sweeper: workflow executions"
  description = "Reads and cancels Glidepath workflow executions, starts the execution of a queued rollout, and re-sends gate decisions to their callbacks."
  permissions = [
    "workflows.callbacks.send",
    "workflows.executions.cancel",
    "workflows.executions.create",
    "workflows.executions.get",
  ]
}

# The custom role above, on the project that runs the workflows, for the sweeper only.
resource "google_project_iam_member" "sweeper_executions" {
  project = var.project_id
  role    = google_project_iam_custom_role.sweeper_executions.id
  member  = "serviceAccount:${google_service_account.functions["sweeper"].email}"
}

# The Abort and Roll back now buttons stop a rollout: they cancel its
# workflow execution (CancelExecution). Approve and Reject send the decision
# to the callback the execution awaits, which requires workflows.callbacks.send
# (executions.callbacks.sendHttpCallback). Nothing else of Workflows: the
# interaction function gets exactly these two permissions in a custom role.
# Workflows has no finer IAM than the project.
resource "google_project_iam_custom_role" "slack_interactions_executions" {
  project     = var.project_id
  role_id     = "glidepathSlackExecutions"
  title       = "Glidepath slack-interactions: cancel executions, send gate callbacks"
  description = "Cancels the workflow execution of a rollout stopped with a Slack button; sends a Slack gate decision to its callback."
  permissions = [
    "workflows.callbacks.send",
    "workflows.executions.cancel",
  ]
}

# The custom role above, on the project that runs the workflows, for the interaction function only.
resource "google_project_iam_member" "slack_interactions_executions" {
  project = var.project_id
  role    = google_project_iam_custom_role.slack_interactions_executions.id
  member  = "serviceAccount:${google_service_account.functions["slack-interactions"].email}"
}

# A stopped rollout's recorded split goes back with the same Cloud Run calls
# as the sweeper's, made by rollout-stops (not by slack-interactions, which
# only records the stop): the deployer custom role in each target project.
resource "google_project_iam_member" "rollout_stops_deployer" {
  for_each = local.deploy_target_projects

  project = each.value
  role    = google_project_iam_custom_role.deployer[each.value].id
  member  = "serviceAccount:${google_service_account.functions["rollout-stops"].email}"
}

# ---------------------------------------------------------------------------
# Resource-level grants.
# ---------------------------------------------------------------------------

# Deploying a revision acts as the service's runtime service account, so the
# actions service account may act as those accounts, and only those.
resource "google_service_account_iam_member" "actions_acts_as_runtime" {
  for_each = toset(var.runtime_service_accounts)

  service_account_id = "projects/-/serviceAccounts/${each.value}"
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.functions["actions"].email}"
}

# Moving traffic back is an UpdateService call, which carries the service's
# runtime service account, and Cloud Run asks the caller to be able to act as
# it (Service Account User on the service identity): the sweeper may act as
# the same accounts as actions, and only those. Restoring a dead job image
# rollout's template is an UpdateJob, which needs the same on the job's
# identity ("creating or updating a job, require the deployer account to have
# permissions on the service identity resource",
# https://cloud.google.com/run/docs/configuring/jobs/service-accounts).
resource "google_service_account_iam_member" "sweeper_acts_as_runtime" {
  for_each = toset(var.runtime_service_accounts)

  service_account_id = "projects/-/serviceAccounts/${each.value}"
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.functions["sweeper"].email}"
}

# A Slack button's rollback is the same UpdateService as the sweeper's: the
# rollout-stops function may act as the same runtime accounts, and only those.
resource "google_service_account_iam_member" "rollout_stops_acts_as_runtime" {
  for_each = toset(var.runtime_service_accounts)

  service_account_id = "projects/-/serviceAccounts/${each.value}"
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.functions["rollout-stops"].email}"
}

# PUBLIC, and the only public grant: Slack calls the interaction function from
# the internet without a Google identity. The function refuses (401) every
# request not signed with the Slack app's signing secret (functions.tf).
resource "google_cloud_run_service_iam_member" "slack_interactions_public" {
  project  = var.project_id
  location = google_cloudfunctions2_function.functions["slack-interactions"].location
  service  = google_cloudfunctions2_function.functions["slack-interactions"].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Only the workflows service account may invoke the actions function.
resource "google_cloud_run_service_iam_member" "actions_invoker" {
  project  = var.project_id
  location = google_cloudfunctions2_function.functions["actions"].location
  service  = google_cloudfunctions2_function.functions["actions"].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.workflows.email}"
}

# Only the scheduler service account may invoke the sweeper function.
resource "google_cloud_run_service_iam_member" "sweeper_invoker" {
  project  = var.project_id
  location = google_cloudfunctions2_function.functions["sweeper"].location
  service  = google_cloudfunctions2_function.functions["sweeper"].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

# The smoke test calls each candidate on its tag URL with an ID token of the
# actions service account, and Cloud Run services are private: that account
# may invoke exactly the services the policy rolls out (local.policy_services),
# in every region of their waves, and nothing else. Additive (*_iam_member):
# the services' other invokers are left alone.
resource "google_cloud_run_service_iam_member" "actions_smoke_invoker" {
  for_each = local.policy_services

  project  = each.value.project
  location = each.value.region
  service  = each.value.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.functions["actions"].email}"
}

# Only the push-invoker service account may invoke the four Pub/Sub-driven functions.
resource "google_cloud_run_service_iam_member" "push_invoker" {
  for_each = {
    intake          = google_cloudfunctions2_function.functions["intake"].name
    "job-trigger"   = google_cloudfunctions2_function.functions["job-trigger"].name
    "rollout-stops" = google_cloudfunctions2_function.functions["rollout-stops"].name
    "dead-letter"   = google_cloudfunctions2_function.functions["dead-letter"].name
  }

  project  = var.project_id
  location = var.region
  service  = each.value
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push_invoker.email}"
}

# The Pub/Sub service agent mints the push OIDC tokens of the push-invoker account.
resource "google_service_account_iam_member" "pubsub_agent_token_creator" {
  service_account_id = google_service_account.push_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# Dead-lettering: the Pub/Sub service agent publishes to the dead-letter topic...
resource "google_pubsub_topic_iam_member" "pubsub_agent_dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letters.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

# ...and acknowledges the forwarded message on each source subscription.
resource "google_pubsub_subscription_iam_member" "pubsub_agent_subscriber" {
  for_each = google_pubsub_subscription.feeds

  project      = var.project_id
  subscription = each.value.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# After a job's last failed attempt the job-run workflow asks actions to publish the dead letter.
resource "google_pubsub_topic_iam_member" "actions_dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letters.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.functions["actions"].email}"
}

# slack-interactions hands a recorded stop to rollout-stops: it may publish to that topic, and only that one.
resource "google_pubsub_topic_iam_member" "slack_interactions_stop_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.topics["rollout_stops"].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.functions["slack-interactions"].email}"
}

# Every function may read the Slack webhook.
resource "google_secret_manager_secret_iam_member" "slack_accessor" {
  for_each = google_service_account.functions

  project   = var.project_id
  secret_id = google_secret_manager_secret.secrets["slack-webhook"].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${each.value.email}"
}

# Only the interaction function may read the Slack signing secret.
resource "google_secret_manager_secret_iam_member" "slack_signing_secret_accessor" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.secrets["slack-signing-secret"].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.functions["slack-interactions"].email}"
}

# Only the functions that page may read the PagerDuty routing key: actions
# (a rollback in production, a dead-lettered job run) and the sweeper (a
# rollout it recovered, a job run it ended).
resource "google_secret_manager_secret_iam_member" "pagerduty_accessor" {
  for_each = {
    actions = google_service_account.functions["actions"].email
    sweeper = google_service_account.functions["sweeper"].email
  }

  project   = var.project_id
  secret_id = google_secret_manager_secret.secrets["pagerduty-routing-key"].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${each.value}"
}
