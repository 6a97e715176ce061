/**
 * Minimal adoption of Glidepath: one module call.
 *
 *   npm run build            # from the repository root: dist/functions/*
 *   cd terraform/examples/basic
 *   terraform init
 *   terraform apply -var project_id=my-project
 */

provider "google" {
  project = var.project_id
  region  = var.region
}

module "glidepath" {
  source = "../.."

  project_id           = var.project_id
  region               = var.region
  policy_file          = "${path.module}/../../../glidepath.example.yaml"
  functions_source_dir = "${path.module}/../../../dist/functions"

  # The runtime service accounts of the services in the policy (deploying a revision acts as them).
  runtime_service_accounts = var.runtime_service_accounts

  # How often the sweeper looks for stuck rollouts (cron, UTC). This is the default.
  # sweep_schedule = "*/5 * * * *"
}
