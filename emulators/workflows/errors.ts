import type { Value, ValueMap } from './values';

/** A Workflows error travelling through the interpreter: `value` is what `except: as: e` sees. */
export class Raised extends Error {
  constructor(readonly value: Value) {
    super(typeof value === 'string' ? value : describe(value));
    this.name = 'Raised';
  }
}

function describe(value: Value): string {
  const m = value as ValueMap | null;
  return m && typeof m === 'object' && typeof m.message === 'string' ? m.message : JSON.stringify(value);
}

/** Error tags the engine raises itself (Google documents these; see docs/workflows-emulator.md). */
type ErrorTag =
  | 'HttpError'
  | 'ConnectionError'
  | 'ConnectionFailedError'
  | 'TimeoutError'
  | 'KeyError'
  | 'IndexError'
  | 'TypeError'
  | 'ValueError'
  | 'ZeroDivisionError'
  | 'RecursionError'
  | 'ResourceLimitError'
  | 'SystemError'
  | 'UnhandledBranchError'
  | 'ParallelNestingError'
  | 'AuthError';

export function wfError(tags: ErrorTag | ErrorTag[], message: string, extra: ValueMap = {}): Raised {
  return new Raised({ message, tags: Array.isArray(tags) ? tags : [tags], ...extra });
}

/**
 * A workflow definition the engine will not run: invalid, or using a construct
 * it does not implement. Raised at deploy (parse) time; names the step.
 */
export class WorkflowDefinitionError extends Error {
  constructor(
    message: string,
    readonly step?: string,
  ) {
    super(step ? `step "${step}": ${message}` : message);
    this.name = 'WorkflowDefinitionError';
  }
}

/** The execution was cancelled from outside (CancelExecution). Not catchable by `except`. */
export class Cancelled extends Error {
  constructor() {
    super('execution cancelled');
    this.name = 'Cancelled';
  }
}
