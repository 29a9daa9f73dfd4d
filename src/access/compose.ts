import type { Config } from '../../config';
import type { Clock } from '../clock';
import type { Database } from '../db/database';
import { AccessRequestsRepository } from '../db/access-requests';
import { AuditLogRepository } from '../db/audit-log';
import type { RecordingsRepository } from '../db/recordings';
import { ReleasesRepository } from '../db/releases';
import type { HoldRecord } from '../db/retention';
import { UsersRepository } from '../db/users';
import { AudioDelivery } from '../export/audio-delivery';
import { SubjectAccess } from '../export/subject-access';
import { TranscodeSlots } from '../export/transcode-slots';
import type { Logger } from '../log/logger';
import type { RetentionService } from '../retention/retention-service';
import type { RecordingVault } from '../vault/recording-vault';
import { AccessRequests } from './access-requests';
import { AuditTrail, type AuditEvent } from './audit-trail';
import { Authentication } from './authentication';
import { RecordingAccess } from './recording-access';
import { ReleaseRegister } from './release-register';
import { UserService } from './users';

/**
 * The access half of the composition root (src/app.ts builds it through createAccess): sign-in,
 * grants, the release register, exports and the audit trail, wired to retention's events.
 */
export interface Access {
  readonly audit: AuditTrail;
  readonly users: UserService;
  readonly authentication: Authentication;
  readonly recordings: RecordingAccess;
  readonly accessRequests: AccessRequests;
  readonly releases: ReleaseRegister;
  readonly audio: AudioDelivery;
  readonly subjectAccess: SubjectAccess;
  /** Appends to the audit trail from an event handler: a failure is logged by the trail, never thrown into the emitter. */
  record(event: AuditEvent): void;
}

/** The audit trail alone, for commands that record a change without building the whole app (key generation). */
export function createAuditTrail(db: Database, clock: Clock, logger: Logger): AuditTrail {
  return new AuditTrail({ db, repo: new AuditLogRepository(db), clock, logger });
}

export function createAccess(parts: { db: Database; recordings: RecordingsRepository; vault: RecordingVault; retention: RetentionService; config: Config; clock: Clock; logger: Logger }): Access {
  const { db, recordings, vault, retention, config, clock, logger } = parts;
  const audit = createAuditTrail(db, clock, logger);
  const usersRepo = new UsersRepository(db);
  const requestsRepo = new AccessRequestsRepository(db);
  const accessRequests = new AccessRequests({ repo: requestsRepo, recordings, users: usersRepo, audit, config, clock });
  const releases = new ReleaseRegister({ repo: new ReleasesRepository(db), requests: requestsRepo, grants: accessRequests, audit, clock });
  const record = (event: AuditEvent): void => {
    audit.append(event).catch(() => undefined);
  };
  const transcodeSlots = new TranscodeSlots(config.export.maxConcurrent);

  // Retention's own operations enter the audit trail too, whoever triggered them (API, command, schedule).
  retention.on('hold-placed', (hold: HoldRecord) => record({ actor: hold.placedBy, action: 'retention.hold_placed', recordingId: hold.recordingId, details: { holdId: hold.id, reason: hold.reason } }));
  retention.on('hold-removed', (event: { recordingId: string; reason: string; by: string; count: number }) =>
    record({ actor: event.by, action: 'retention.hold_removed', recordingId: event.recordingId, details: { reason: event.reason, holdsRemoved: event.count } }),
  );
  retention.on('category-changed', (event: { recordingId: string; from: string; to: string; reason: string; by: string; retainUntil: Date }) =>
    record({ actor: event.by, action: 'retention.category_changed', recordingId: event.recordingId, details: { from: event.from, to: event.to, reason: event.reason, retainUntil: event.retainUntil } }),
  );
  retention.on('destroyed', (event: { recordingId: string; sweepId: string }) => record({ actor: 'system', action: 'retention.destroyed', recordingId: event.recordingId, details: { sweepId: event.sweepId } }));

  return {
    audit,
    users: new UserService({ repo: usersRepo, audit, config, clock }),
    authentication: new Authentication({ repo: usersRepo, audit, config, clock, logger }),
    recordings: new RecordingAccess({ recordings, audit, config }),
    accessRequests,
    releases,
    audio: new AudioDelivery({ recordings, vault, grants: accessRequests, releases, audit, config, logger, slots: transcodeSlots }),
    subjectAccess: new SubjectAccess({ recordings, vault, releases, audit, config, logger, slots: transcodeSlots }),
    record,
  };
}

