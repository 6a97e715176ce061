/** The Workflows emulator: in-process engine, gRPC Executions API, OIDC helpers. */
export { compileWorkflow, type Program } from './definition';
export {
  executeProgram,
  runWorkflow,
  LIMITS,
  type EngineOptions,
  type RunResult,
  type StepStats,
} from './engine';
export { WorkflowDefinitionError } from './errors';
export { mintOidcToken, verifyOidcToken, type OidcClaims } from '../../functions/shared/oidc';
export { realClock, type Clock } from './runtime';
export { startWorkflowsEmulator, type WorkflowsEmulator, type WorkflowsEmulatorOptions } from './server';
