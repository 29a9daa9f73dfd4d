import { schedule, type ScheduledTask } from 'node-cron';
import type { Config } from '../../config';
import { toAppError } from '../errors';
import type { Logger } from '../log/logger';
import type { RetentionService } from './retention-service';

/**
 * Rolling destruction on the configured cron schedule and time zone. Every instance schedules
 * it; the sweep's database lease makes sure only one runs at a time.
 */
export function scheduleSweeps(retention: RetentionService, config: Config, logger: Logger): ScheduledTask | null {
  if (config.retention.schedule === 'off') {
    logger.warn('rolling destruction is switched off (CALLVAULT_RETENTION_SCHEDULE=off); run "callvault retention sweep" yourself', { event: 'retention.schedule_off' });
    return null;
  }
  return schedule(
    config.retention.schedule,
    async () => {
      try {
        await retention.sweep({ trigger: 'schedule' });
      } catch (error) {
        logger.error('scheduled retention sweep failed', { event: 'retention.sweep_failed', error: toAppError(error).message });
      }
    },
    { timezone: config.retention.timezone, name: 'retention-sweep', noOverlap: true },
  );
}
