/**
 * Rollout reports (docs/report.md): the actions function writes one HTML
 * page per finished rollout (the sweeper too, when it ends a stuck one), and
 * the final Slack message links it as
 * https://storage.cloud.google.com/BUCKET/reports/SERVICE/ROLLOUT.html, a URL
 * that opens only for a signed-in account allowed to read the bucket
 * (https://cloud.google.com/storage/docs/request-endpoints#cookieauth).
 *
 * - Private: uniform bucket-level access (no object ACLs) and public access
 *   prevention enforced, so no grant can ever make a report public.
 * - Deleted after 90 days.
 * - Writers: the actions, sweeper and rollout-stops service accounts
 *   (rollout-stops settles a rollout stopped with Abort or Roll back now, and
 *   posts its end with its report), with
 *   roles/storage.objectCreator on this bucket only: they can create objects,
 *   not read, list, replace or delete them
 *   (https://cloud.google.com/storage/docs/access-control/iam-roles). A
 *   retried write of the same report is a no-op (ifGenerationMatch=0).
 * - Readers: var.report_readers, with roles/storage.objectViewer on this bucket.
 */

resource "google_storage_bucket" "reports" {
  project                     = var.project_id
  name                        = "${var.project_id}-glidepath-reports"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_iam_member" "report_writers" {
  for_each = {
    actions       = google_service_account.functions["actions"].email
    sweeper       = google_service_account.functions["sweeper"].email
    rollout_stops = google_service_account.functions["rollout-stops"].email
  }

  bucket = google_storage_bucket.reports.name
  role   = "roles/storage.objectCreator"
  member = "serviceAccount:${each.value}"
}

resource "google_storage_bucket_iam_member" "report_readers" {
  for_each = toset(var.report_readers)

  bucket = google_storage_bucket.reports.name
  role   = "roles/storage.objectViewer"
  member = each.value
}
