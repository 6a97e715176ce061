/**
 * The clock of the Cloud Run emulator's own delays: a revision becoming
 * Ready, routes being programmed, a job execution running its course. A test
 * holds them to look at a resource mid-change without racing the wall clock.
 */
export interface EmulatorTimers {
  setTimeout(fn: () => void, ms: number): ReturnType<typeof setTimeout>;
  clearTimeout(timer: ReturnType<typeof setTimeout> | undefined): void;
}

export const realTimers: EmulatorTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer),
};

/** Timers that, while held, keep every due callback until `release()`: nothing changes meanwhile. */
export class HeldTimers implements EmulatorTimers {
  private held = false;
  private readonly due: Array<() => void> = [];

  setTimeout(fn: () => void, ms: number): ReturnType<typeof setTimeout> {
    return setTimeout(() => (this.held ? this.due.push(fn) : fn()), ms);
  }
  clearTimeout(timer: ReturnType<typeof setTimeout> | undefined): void {
    clearTimeout(timer);
  }
  hold(): void {
    this.held = true;
  }
  /** Runs what fell due while held, and lets later timers run as they fall due. */
  release(): void {
    this.held = false;
    for (const fn of this.due.splice(0)) fn();
  }
}
