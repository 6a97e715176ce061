variable "project_id" {
  type        = string
  description = "The GCP project that hosts Glidepath (functions, workflows, topics, Firestore)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project id: 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region of the functions, the workflows (GLIDEPATH_LOCATION) and the Cloud Scheduler jobs."
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a GCP region such as \"us-central1\"."
  }
}

variable "firestore_location" {
  type        = string
  description = "Location of the Firestore (default) database: a multi-region (nam5, eur3) or a region. Cannot be changed after creation."
  default     = "nam5"

  validation {
    condition     = can(regex("^(nam5|nam7|eur3|[a-z]+-[a-z]+[0-9]+)$", var.firestore_location))
    error_message = "firestore_location must be nam5, nam7, eur3 or a region such as \"us-central1\"."
  }
}

variable "create_firestore_database" {
  type        = bool
  description = "Create the Firestore (default) database in native mode. Set false when the project already has one (it must be in native mode)."
  default     = true
}

variable "policy_file" {
  type        = string
  description = "Path to the policy file (glidepath.yaml). Its jobs become Cloud Scheduler jobs; the same file is bundled into every function by `npm run build`."

  validation {
    condition     = fileexists(var.policy_file)
    error_message = "policy_file must point to an existing glidepath.yaml."
  }

  validation {
    condition     = can(yamldecode(file(var.policy_file)))
    error_message = "policy_file must be valid YAML."
  }
}

variable "functions_source_dir" {
  type        = string
  description = "Directory holding the built functions (one sub-directory per function: intake, job-trigger, dead-letter, actions, sweeper, slack-interactions, rollout-stops), as produced by `npm run build`."
  default     = "../dist/functions"

  validation {
    condition     = alltrue([for f in ["intake", "job-trigger", "dead-letter", "actions", "sweeper", "slack-interactions", "rollout-stops"] : fileexists("${var.functions_source_dir}/${f}/index.js")])
    error_message = "functions_source_dir must contain intake/, job-trigger/, dead-letter/, actions/, sweeper/, slack-interactions/ and rollout-stops/, each with an index.js. Run `npm run build` first."
  }
}

variable "create_source_topics" {
  type        = bool
  description = "Create the `gcr` (Artifact Registry) and `cloud-builds` (Cloud Build) topics. Set false when they already exist in the project; they are then looked up."
  default     = true
}

variable "deploy_target_project_ids" {
  type        = list(string)
  description = "Projects, besides project_id, that hold Cloud Run services or jobs named in the policy. The actions service account gets the Glidepath deployer custom role in each."
  default     = []

  validation {
    condition     = alltrue([for p in var.deploy_target_project_ids : can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", p))])
    error_message = "deploy_target_project_ids must hold GCP project ids."
  }
}

variable "runtime_service_accounts" {
  type        = list(string)
  description = "Emails of the runtime service accounts of the Cloud Run services and jobs Glidepath deploys. Deploying a revision or updating a job acts as that account, so the accounts that do so get roles/iam.serviceAccountUser on each (and on nothing else): actions (rollouts), sweeper (restores after a dead execution) and rollout-stops (restores after a Slack stop)."
  default     = []

  validation {
    condition     = alltrue([for e in var.runtime_service_accounts : can(regex("^[a-z0-9-]+@[a-z0-9.-]+\\.gserviceaccount\\.com$", e))])
    error_message = "runtime_service_accounts must hold service account emails (NAME@PROJECT.iam.gserviceaccount.com)."
  }
}

variable "function_ingress" {
  type        = string
  description = "Ingress setting of every function but slack-interactions (which Slack must reach, so it is ALLOW_ALL and signature-checked). ALLOW_INTERNAL_ONLY admits Pub/Sub push, Workflows and Cloud Scheduler from the same project; IAM (run.invoker) is enforced on top in every case."
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB", "ALLOW_ALL"], var.function_ingress)
    error_message = "function_ingress must be ALLOW_INTERNAL_ONLY, ALLOW_INTERNAL_AND_GCLB or ALLOW_ALL."
  }
}

variable "function_max_instances" {
  type        = number
  description = "Maximum number of instances of each function."
  default     = 10

  validation {
    condition     = var.function_max_instances >= 1 && var.function_max_instances <= 100
    error_message = "function_max_instances must be between 1 and 100."
  }
}

variable "max_delivery_attempts" {
  type        = number
  description = "Deliveries of a message before Pub/Sub moves it to glidepath-dead-letters."
  default     = 5

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100 (a Pub/Sub limit)."
  }
}

variable "sweep_schedule" {
  type        = string
  description = "Cron schedule (five fields, UTC) of the Cloud Scheduler job that calls the sweeper. The sweeper finds rollouts that hold a service or a region although no live workflow execution drives them any more (the execution ended, vanished, never started, or fell silent), cancels a silent execution, restores the recorded traffic split, ends the rollout as FAILED and tells Slack; it also re-sends Slack notices that waited in the outbox (each is tried 288 times, a day at the default)."
  default     = "*/5 * * * *"

  validation {
    condition     = can(regex("^\\S+\\s+\\S+\\s+\\S+\\s+\\S+\\s+\\S+$", var.sweep_schedule))
    error_message = "sweep_schedule must be a five-field cron expression such as \"*/5 * * * *\"."
  }
}

variable "sweep_heartbeat_grace_seconds" {
  type        = number
  description = "Seconds the sweeper waits, beyond the longest quiet period a rollout's plan allows (its longest bake, or a Cloud Run operation plus the smoke test), before it treats a live but silent workflow execution as stuck (GLIDEPATH_SWEEP_HEARTBEAT_GRACE_SECONDS)."
  default     = 900

  validation {
    condition     = var.sweep_heartbeat_grace_seconds >= 0 && floor(var.sweep_heartbeat_grace_seconds) == var.sweep_heartbeat_grace_seconds
    error_message = "sweep_heartbeat_grace_seconds must be a whole number of seconds, 0 or more."
  }
}

variable "sweep_launch_grace_seconds" {
  type        = number
  description = "Seconds a rollout may wait for intake to start its workflow execution before the sweeper ends it as FAILED (GLIDEPATH_SWEEP_LAUNCH_GRACE_SECONDS)."
  default     = 600

  validation {
    condition     = var.sweep_launch_grace_seconds >= 0 && floor(var.sweep_launch_grace_seconds) == var.sweep_launch_grace_seconds
    error_message = "sweep_launch_grace_seconds must be a whole number of seconds, 0 or more."
  }
}

variable "slack_webhook_configured" {
  type        = bool
  description = "Whether the secret glidepath-slack-webhook has a version. Cloud Run refuses to start a function whose secret has no version, so SLACK_WEBHOOK_URL is only mounted when this is true (scripts/deploy.ts detects it)."
  default     = false
}

variable "slack_signing_secret_configured" {
  type        = bool
  description = "Whether the secret glidepath-slack-signing-secret has a version. Until it has, SLACK_SIGNING_SECRET is not mounted and the slack-interactions function answers 401 to every request (scripts/deploy.ts detects it)."
  default     = false
}

variable "pagerduty_routing_key_configured" {
  type        = bool
  description = "Whether the secret glidepath-pagerduty-routing-key has a version. Until it has, PAGERDUTY_ROUTING_KEY is not mounted and nothing is paged (scripts/deploy.ts detects it)."
  default     = false
}

variable "notification_channels" {
  type        = list(string)
  description = "Cloud Monitoring notification channel ids (projects/P/notificationChannels/N) that the alert policies notify."
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "notification_channels must hold ids of the form projects/P/notificationChannels/N."
  }
}

variable "enable_apis" {
  type        = bool
  description = "Enable the Google APIs Glidepath uses. Disable when APIs are managed elsewhere."
  default     = true
}

variable "labels" {
  type        = map(string)
  description = "Labels added to every resource that supports them."
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "labels must use lowercase keys and values (letters, digits, _ and -)."
  }
}

variable "report_readers" {
  type        = list(string)
  description = "Who may open rollout reports (roles/storage.objectViewer on the reports bucket), e.g. [\"group:deploys@example.com\"]. Named principals only: the bucket is never public."
  default     = []

  validation {
    condition     = alltrue([for m in var.report_readers : can(regex("^(user|group|serviceAccount|domain):.+$", m))])
    error_message = "report_readers must hold IAM members of the form user:, group:, serviceAccount: or domain: (named principals only, never the public)."
  }
}
