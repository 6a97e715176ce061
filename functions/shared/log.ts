/**
 * Structured JSON logs in the shape Cloud Logging parses from stdout:
 * `severity`, `message`, and `logging.googleapis.com/labels` carrying the
 * rollout id, service, region and step so that one rollout can be filtered.
 */
type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR' | 'CRITICAL';

interface LogContext {
  rolloutId?: string;
  service?: string;
  region?: string;
  step?: number | string;
  messageId?: string;
  jobRunId?: string;
  job?: string;
  [key: string]: unknown;
}

const LABEL_KEYS = ['rolloutId', 'service', 'region', 'step', 'messageId', 'jobRunId', 'job'] as const;

export interface Logger {
  log(severity: Severity, message: string, fields?: LogContext): void;
  info(message: string, fields?: LogContext): void;
  warn(message: string, fields?: LogContext): void;
  error(message: string, fields?: LogContext): void;
  child(context: LogContext): Logger;
}

export function createLogger(
  context: LogContext = {},
  write: (line: string) => void = (line) => process.stdout.write(line + '\n'),
): Logger {
  const log = (severity: Severity, message: string, fields: LogContext = {}): void => {
    const all = { ...context, ...fields };
    const labels: Record<string, string> = {};
    for (const key of LABEL_KEYS) if (all[key] !== undefined) labels[key] = String(all[key]);
    const entry: Record<string, unknown> = {
      severity,
      message,
      time: new Date().toISOString(),
      ...all,
      'logging.googleapis.com/labels': labels,
    };
    if (all.rolloutId && process.env.GOOGLE_CLOUD_PROJECT) {
      entry['logging.googleapis.com/trace'] =
        `projects/${process.env.GOOGLE_CLOUD_PROJECT}/traces/${all.rolloutId}`;
    }
    write(JSON.stringify(entry));
  };
  return {
    log,
    info: (m, f) => log('INFO', m, f),
    warn: (m, f) => log('WARNING', m, f),
    error: (m, f) => log('ERROR', m, f),
    child: (extra) => createLogger({ ...context, ...extra }, write),
  };
}

/** A logger that drops everything, for tests and benchmarks that assert on other outputs. */
export const silentLogger: Logger = createLogger({}, () => undefined);
