import type { NewRecording, RecordingStatus } from '../db/recordings';
import type { Job } from '../queue/job-store';
import type { SealedObject } from '../vault/recording-vault';
import { normaliseNumber, type CallMetadata, type RetentionDecision } from './call-metadata';

export interface StoredAudio extends SealedObject {
  readonly format: string;
  readonly contentType: string;
  readonly verifiedAt: Date;
}

/** The index row for a call: its details, retention, and (when stored) how to find and open its object. */
export function buildRecording(input: {
  job: Pick<Job, 'recordingId' | 'source' | 'sourceRecordingId'>;
  metadata: CallMetadata;
  decision: RetentionDecision;
  sealed: StoredAudio | null;
  status: RecordingStatus;
  reason: string | null;
  ingestedAt: Date;
  defaultCountry: string;
}): NewRecording {
  const { job, metadata, decision, sealed, ingestedAt } = input;
  const from = normaliseNumber(metadata.from, input.defaultCountry);
  const to = normaliseNumber(metadata.to, input.defaultCountry);
  const extra: Record<string, unknown> = { ...(metadata.extra ?? {}), retentionRule: decision.rule };
  if (decision.requestedCategory) extra.requestedCategory = decision.requestedCategory;
  // The source's start time is kept as sent; the call time used for search and retention is not.
  if (decision.callTimeAdjusted) extra.callTimeAdjusted = decision.callTimeAdjusted;
  return {
    id: job.recordingId,
    source: job.source,
    sourceRecordingId: job.sourceRecordingId,
    sourceEventId: metadata.sourceEventId ?? null,
    callId: metadata.callId ?? null,
    direction: metadata.direction ?? null,
    fromNumber: from.e164,
    toNumber: to.e164,
    fromDisplay: from.display,
    toDisplay: to.display,
    extension: metadata.extension ?? null,
    line: metadata.line ?? null,
    team: metadata.team ?? null,
    startedAt: metadata.startedAt ?? null,
    endedAt: metadata.endedAt ?? null,
    callTime: decision.retentionFrom,
    durationSec: metadata.durationSec ?? null,
    consent: metadata.consent ?? 'recorded',
    category: decision.category,
    retainUntil: decision.retainUntil,
    status: input.status,
    statusReason: input.reason,
    storageKey: sealed?.storageKey ?? null,
    keyId: sealed?.keyId ?? null,
    wrappedKey: sealed?.wrappedKey ?? null,
    format: sealed?.format ?? null,
    contentType: sealed?.contentType ?? null,
    plaintextSize: sealed?.plaintextSize ?? null,
    ciphertextSize: sealed?.ciphertextSize ?? null,
    chunkSize: sealed?.chunkSize ?? null,
    sha256: sealed?.sha256 ?? null,
    metadata: extra,
    ingestedAt,
    verifiedAt: sealed?.verifiedAt ?? null,
    staff: metadata.staff ?? [],
    parties: (metadata.parties ?? []).map((party) => ({ name: party.name, role: party.role ?? null })),
  };
}
