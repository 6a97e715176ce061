/**
 * Firestore, native mode, (default) database. Collections (created by the
 * functions on first write): rollouts (with the `events` subcollection),
 * services, jobRuns, jobRollouts, jobLocks, deadLetters, dedup and slackOutbox (Slack notices that
 * wait for the sweeper). Composite indexes serve the
 * queries below; dedup records expire through a TTL policy on expiresAt.
 */

resource "google_firestore_database" "default" {
  count = var.create_firestore_database ? 1 : 0

  project                 = var.project_id
  name                    = "(default)"
  location_id             = var.firestore_location
  type                    = "FIRESTORE_NATIVE"
  concurrency_mode        = "PESSIMISTIC"
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  deletion_policy         = "ABANDON"

  depends_on = [google_project_service.enabled]
}

locals {
  # The database every index and field below belongs to, created here or already there.
  firestore_database = var.create_firestore_database ? google_firestore_database.default[0].name : "(default)"

  firestore_indexes = {
    # The history of a service: `glidepath status SERVICE`.
    rollouts_by_service = {
      collection = "rollouts"
      fields     = [["service", "ASCENDING"], ["createdAt", "DESCENDING"]]
    }
    # The stuck-rollout sweeper: RUNNING rollouts not updated for a while.
    rollouts_by_status = {
      collection = "rollouts"
      fields     = [["status", "ASCENDING"], ["updatedAt", "ASCENDING"]]
    }
    # The runs of a job, newest first.
    job_runs_by_job = {
      collection = "jobRuns"
      fields     = [["job", "ASCENDING"], ["createdAt", "DESCENDING"]]
    }
    # The image rollouts of a job, newest first (`glidepath jobs status`, `jobs rollback`).
    job_rollouts_by_job = {
      collection = "jobRollouts"
      fields     = [["job", "ASCENDING"], ["createdAt", "DESCENDING"]]
    }
    # Dead letters not replayed yet, newest first.
    dead_letters_by_replayed = {
      collection = "deadLetters"
      fields     = [["replayed", "ASCENDING"], ["createdAt", "DESCENDING"]]
    }
  }
}

resource "google_firestore_index" "composite" {
  for_each = local.firestore_indexes

  project     = var.project_id
  database    = local.firestore_database
  collection  = each.value.collection
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value[0]
      order      = fields.value[1]
    }
  }
}

# TTL policy: Firestore deletes a dedup record some time after its expiresAt.
resource "google_firestore_field" "dedup_ttl" {
  project    = var.project_id
  database   = local.firestore_database
  collection = "dedup"
  field      = "expiresAt"

  ttl_config {}

  # A TTL timestamp needs no single-field index.
  index_config {}

  # One index operation at a time on the database: the TTL change waits for the composite indexes.
  depends_on = [google_firestore_index.composite]
}
