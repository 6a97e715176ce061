output "function_urls" {
  description = "The run.app URLs of the Glidepath functions."
  value       = module.glidepath.function_urls
}

output "next_steps" {
  description = "How to connect Cloud Build and Artifact Registry, and set the Slack webhook."
  value       = module.glidepath.next_steps
}
