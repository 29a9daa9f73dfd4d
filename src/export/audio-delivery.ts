import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import type { Config } from '../../config';
import type { AccessRequests, Grant } from '../access/access-requests';
import type { AuditTrail } from '../access/audit-trail';
import type { Principal } from '../access/principal';
import { requireAudio, requireVisible } from '../access/recording-policy';
import type { ReleaseRegister } from '../access/release-register';
import { may } from '../access/roles';
import type { Recording, RecordingsRepository } from '../db/recordings';
import type { ReleaseRecord } from '../db/releases';
import { AppError } from '../errors';
import type { Logger } from '../log/logger';
import { DigestStream, type RecordingVault, type SealedRef } from '../vault/recording-vault';
import type { TranscodeSlots } from './transcode-slots';
import { EXPORT_CONTENT_TYPES, transcode, type ExportFormat } from './transcoder';

/**
 * Audio leaving callvault, in two kinds:
 * - playback: the stored audio as it is, with byte ranges (a player seeking), under a live grant
 *   (or a configured exemption for the role, never for admin); audited, with the reason, before
 *   the first byte.
 * - export: a copy (MP3, WAV, or the stored file written out by the command line) under a live
 *   grant that names a release purpose, requester and recipient; audited before the first byte,
 *   and entered in the release register once the transfer ends, with the SHA-256 and size of
 *   exactly the bytes that went (marked incomplete if the transfer was cut off).
 *
 * Either way the bytes flow vault -> (ffmpeg) -> hash -> transport as one stream.
 */

export interface Delivery {
  readonly contentType: string;
  readonly filename: string;
  /** Known for the stored format; null for a conversion (sent chunked). */
  readonly contentLength: number | null;
  /** Counted and hashed as it is read. */
  readonly body: Readable;
  readonly digest: DigestStream;
  /** Records what left (exports: the register entry). Call once, when the transport has finished or failed. */
  settle(complete: boolean): Promise<ReleaseRecord | null>;
}

export interface ExportRequest {
  readonly format: ExportFormat | 'original';
  readonly reason: string;
  /** Use this grant (an access request id) when several cover the recording. */
  readonly grantId?: string;
  readonly channel: 'api' | 'cli';
}

export class AudioDelivery {
  constructor(
    private readonly deps: {
      recordings: RecordingsRepository;
      vault: RecordingVault;
      grants: AccessRequests;
      releases: ReleaseRegister;
      audit: AuditTrail;
      config: Config;
      logger: Logger;
      slots: TranscodeSlots;
    },
  ) {}

  /**
   * The stored audio for listening: whole, or the byte range `rangeOf` picks once the size is
   * known (inclusive offsets; it throws for a range that cannot be satisfied).
   */
  async play(
    principal: Principal,
    recordingId: string,
    reason: string,
    rangeOf: (size: number) => { start: number; end: number } | null = () => null,
  ): Promise<Delivery & { readonly size: number; readonly range: { start: number; end: number } | null }> {
    const recording = await this.audible(principal, recordingId);
    const exempt = this.deps.config.access.grantExemptRoles.includes(principal.role as never) && may(principal.role, 'recordings.view');
    const grant = exempt ? null : await this.deps.grants.liveGrant(principal.userId, recordingId, 'listen');
    const size = recording.plaintextSize!;
    let range: { start: number; end: number } | null;
    try {
      range = rangeOf(size);
    } catch (error) {
      if (error instanceof AppError) throw new AppError(error.code, error.message, { details: { size } });
      throw error;
    }
    await this.deps.audit.append({
      actor: principal.username,
      actorRole: principal.role,
      action: 'recording.play',
      recordingId,
      details: { reason, grantId: grant?.request.id ?? null, exemptRole: exempt ? principal.role : undefined, range: range ? `${range.start}-${range.end}` : undefined },
    });
    const source = await this.deps.vault.open(refOf(recording), range ?? undefined);
    const digest = new DigestStream();
    return {
      contentType: recording.contentType ?? 'application/octet-stream',
      filename: `${recording.id}.${recording.format ?? 'audio'}`,
      contentLength: range ? range.end - range.start + 1 : size,
      size,
      range,
      body: pipeline(source, digest, () => undefined),
      digest,
      settle: async () => null,
    };
  }

  /** A copy to keep (MP3, WAV, or the stored file), entered in the release register when it has gone. */
  async export(principal: Principal, recordingId: string, request: ExportRequest): Promise<Delivery> {
    const recording = await this.audible(principal, recordingId);
    const grant = await this.deps.grants.liveGrant(principal.userId, recordingId, 'release', request.grantId);
    // Taken before anything is audited, so a busy answer leaves no trace of an export that never ran.
    const releaseSlot = request.format === 'original' ? () => undefined : this.deps.slots.take();
    try {
      return await this.startExport(principal, recording, request, grant, releaseSlot);
    } catch (error) {
      releaseSlot();
      throw error;
    }
  }

  private async startExport(principal: Principal, recording: Recording, request: ExportRequest, grant: Grant, releaseSlot: () => void): Promise<Delivery> {
    const recordingId = recording.id;
    const { request: approved } = grant;
    await this.deps.audit.append({
      actor: principal.username,
      actorRole: principal.role,
      action: 'recording.export',
      recordingId,
      details: { reason: request.reason, format: request.format, grantId: approved.id, purpose: grant.purpose, channel: request.channel },
    });
    const source = await this.deps.vault.open(refOf(recording));
    const converted =
      request.format === 'original'
        ? source
        : transcode(source, { inputFormat: recording.format, to: request.format, mp3Bitrate: this.deps.config.export.mp3Bitrate, logger: this.deps.logger });
    const digest = new DigestStream();
    const body = pipeline(converted, digest, () => undefined);
    body.once('close', releaseSlot);
    let settled: Promise<ReleaseRecord> | null = null;
    return {
      contentType: request.format === 'original' ? (recording.contentType ?? 'application/octet-stream') : EXPORT_CONTENT_TYPES[request.format],
      filename: `${recording.id}.${request.format === 'original' ? (recording.format ?? 'audio') : request.format}`,
      contentLength: request.format === 'original' ? recording.plaintextSize : null,
      body,
      digest,
      settle: (complete) =>
        (settled ??= this.deps.releases.record({
          recordingIds: [recordingId],
          requester: approved.releaseRequester!,
          recipient: approved.releaseRecipient!,
          purpose: grant.purpose!,
          authorisedBy: approved.decidedBy!,
          dpoApprovedBy: approved.dpoApprovedBy,
          accessRequestId: approved.id,
          format: request.format,
          sha256: digest.hex(),
          bytes: digest.size,
          complete,
          channel: request.channel,
          recordedBy: principal.username,
          notes: null,
        })),
    };
  }

  /** A recording this person may know of, whose audio still exists. */
  private async audible(principal: Principal, recordingId: string): Promise<Recording> {
    if (!may(principal.role, 'recordings.audio')) throw new AppError('E_FORBIDDEN', `a ${principal.role} may not hear recordings`);
    const recording = requireVisible(principal, await this.deps.recordings.get(recordingId), recordingId);
    requireAudio(recording);
    return recording;
  }
}

export function refOf(recording: Recording): SealedRef {
  return { storageKey: recording.storageKey!, keyId: recording.keyId!, wrappedKey: recording.wrappedKey!, plaintextSize: recording.plaintextSize!, sha256: recording.sha256! };
}
