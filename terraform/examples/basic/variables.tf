variable "project_id" {
  type        = string
  description = "The GCP project to install Glidepath in."
}

variable "region" {
  type        = string
  description = "Region of the functions, workflows and scheduler jobs."
  default     = "us-central1"
}

variable "runtime_service_accounts" {
  type        = list(string)
  description = "Runtime service accounts of the Cloud Run services and jobs Glidepath deploys."
  default     = []
}
