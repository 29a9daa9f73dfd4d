import type { Config } from '../config';

export type FailpointName = NonNullable<Config['failpoint']>;

/**
 * Crash-safety tests set CALLVAULT_FAILPOINT to a named point; the process then dies there as
 * abruptly as a power cut (SIGKILL: no handlers, no flushing). Unset, this does nothing.
 */
export function failpoint(config: Pick<Config, 'failpoint'>, name: FailpointName): void {
  if (config.failpoint === name) process.kill(process.pid, 'SIGKILL');
}
