import { PassThrough, pipeline, type Readable } from 'node:stream';
import { ZipFile } from 'yazl';
import type { Config } from '../../config';
import { optionalText, requiredText } from '../access/access-requests';
import type { AuditTrail } from '../access/audit-trail';
import { maskName, maskNumber } from '../access/masking';
import type { Principal } from '../access/principal';
import type { ReleaseRegister } from '../access/release-register';
import { may } from '../access/roles';
import type { Recording, RecordingsRepository } from '../db/recordings';
import { AppError } from '../errors';
import { foldName, normaliseNumber } from '../ingest/call-metadata';
import type { Logger } from '../log/logger';
import { DigestStream, type RecordingVault } from '../vault/recording-vault';
import type { Delivery } from './audio-delivery';
import { refOf } from './audio-delivery';
import { csvLine } from './csv';
import type { TranscodeSlots } from './transcode-slots';
import { transcode } from './transcoder';

/**
 * A subject access request answered: every recording still held for a phone number or a person's
 * name (calls from or to the number; calls where a party has exactly that name), as one ZIP of
 * MP3s with a manifest.csv of the calls' details and each file's SHA-256. "Still held" includes
 * recordings past their date that a sweep has not reached yet or that are under legal hold: a
 * subject access request covers what is held.
 *
 * The ZIP is streamed: each recording is decrypted and converted only when the ZIP writer reaches
 * it, one at a time, so memory stays flat whatever the number and length of the calls. Files are
 * stored, not deflated (MP3 does not compress further). It is made by an ig_lead or the dpo and
 * entered in the release register with the SHA-256 of the whole ZIP as sent.
 */

export interface SubjectAccessInput {
  readonly number?: unknown;
  readonly name?: unknown;
  readonly requester?: unknown;
  readonly recipient?: unknown;
  readonly reason?: unknown;
}

const MANIFEST_HEADER = ['file', 'recording_id', 'call_start', 'duration_sec', 'direction', 'from', 'to', 'extension', 'line', 'team', 'category', 'parties', 'mp3_sha256', 'mp3_bytes'];
const PAGE = 100;

export class SubjectAccess {
  constructor(
    private readonly deps: { recordings: RecordingsRepository; vault: RecordingVault; releases: ReleaseRegister; audit: AuditTrail; config: Config; logger: Logger; slots: TranscodeSlots },
  ) {}

  /** The recordings a request would return, oldest first (also what `bundle` puts in the ZIP). */
  async find(number: string | null, name: string | null): Promise<Recording[]> {
    const found = new Map<string, Recording>();
    const collect = async (filters: { number?: string; party?: string }, keep: (recording: Recording) => boolean): Promise<void> => {
      let cursor: string | undefined;
      do {
        const page = await this.deps.recordings.search({ ...filters, statuses: ['stored'], limit: PAGE, cursor });
        for (const recording of page.items) if (keep(recording)) found.set(recording.id, recording);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
    };
    if (number) await collect({ number }, () => true);
    if (name) {
      const folded = foldName(name);
      // The index matches names by substring; a subject access request wants that person, not "Jane Patientson".
      await collect({ party: folded }, (recording) => recording.parties.some((party) => foldName(party.name) === folded));
    }
    return [...found.values()].sort((a, b) => a.callTime.getTime() - b.callTime.getTime() || a.id.localeCompare(b.id));
  }

  async bundle(principal: Principal, input: SubjectAccessInput, headerReason: string | undefined): Promise<Delivery & { readonly recordings: number }> {
    if (!may(principal.role, 'subject_access.export')) throw new AppError('E_FORBIDDEN', `a ${principal.role} may not answer subject access requests`);
    const reason = requiredText(input.reason ?? headerReason, 'reason', 2000);
    const requester = optionalText(input.requester, 'requester', 255);
    if (!requester) throw new AppError('E_VALIDATION', 'requester: the data subject (or who asks on their behalf)');
    const recipient = optionalText(input.recipient, 'recipient', 255) ?? requester;
    const numberText = optionalText(input.number, 'number', 64);
    const name = optionalText(input.name, 'name', 255);
    if (!numberText && !name) throw new AppError('E_VALIDATION', 'number or name: say whose recordings to find');
    const number = numberText ? normaliseNumber(numberText, this.deps.config.defaultCountry).e164 : null;
    if (numberText && !number) throw new AppError('E_VALIDATION', 'number: not a phone number');
    const recordings = await this.find(number, name);
    if (recordings.length === 0) throw new AppError('E_RECORDING_NOT_FOUND', 'no recordings are held for that number or name');

    // One slot for the whole bundle: its recordings are converted one after another.
    const releaseSlot = this.deps.slots.take();
    try {
      return await this.startBundle(principal, recordings, { reason, requester, recipient, number, name }, releaseSlot);
    } catch (error) {
      releaseSlot();
      throw error;
    }
  }

  private async startBundle(
    principal: Principal,
    recordings: Recording[],
    ask: { reason: string; requester: string; recipient: string; number: string | null; name: string | null },
    releaseSlot: () => void,
  ): Promise<Delivery & { readonly recordings: number }> {
    const { reason, requester, recipient, number, name } = ask;
    const recordingIds = recordings.map((recording) => recording.id);
    await this.deps.audit.append({
      actor: principal.username,
      actorRole: principal.role,
      action: 'subject_access.exported',
      details: { reason, number: maskNumber(number), name: maskName(name), recordings: recordings.length, recordingIds },
    });

    const zip = new ZipFile();
    const manifest: string[] = [csvLine(MANIFEST_HEADER)];
    // The conversion in progress, ended if the bundle is abandoned (a client that hangs up) so that no ffmpeg is left behind.
    let converting: Readable | null = null;
    recordings.forEach((recording, index) => {
      const file = `${String(index + 1).padStart(3, '0')}_${recording.callTime.toISOString().replace(/[:.]/g, '-')}_${recording.id.slice(0, 8)}.mp3`;
      zip.addReadStreamLazy(file, { compress: false, mtime: recording.callTime }, (done) => {
        // Called when the writer reaches this entry: only one conversion runs at a time.
        this.deps.vault.open(refOf(recording)).then(
          (source) => {
            const digest = new DigestStream();
            const mp3 = transcode(source, { inputFormat: recording.format, to: 'mp3', mp3Bitrate: this.deps.config.export.mp3Bitrate, logger: this.deps.logger });
            mp3.on('error', (error) => zip.emit('error', error));
            converting = mp3;
            digest.on('end', () => manifest.push(manifestLine(file, recording, digest)));
            done(null, mp3.pipe(digest));
          },
          (error: unknown) => done(error, undefined as never),
        );
      });
    });
    zip.addReadStreamLazy('manifest.csv', { compress: true }, (done) => done(null, readableOf(manifest.join(''))));
    zip.end();

    const output = new PassThrough();
    zip.on('error', (error: unknown) => output.destroy(error instanceof Error ? error : new AppError('E_TRANSCODE', String(error))));
    const digest = new DigestStream();
    const body = pipeline(zip.outputStream as Readable, output, digest, () => undefined);
    body.once('close', () => {
      if (!body.readableEnded) converting?.destroy();
      releaseSlot();
    });
    let settled: ReturnType<ReleaseRegister['record']> | null = null;
    return {
      contentType: 'application/zip',
      filename: `subject-access-${new Date().toISOString().slice(0, 10)}.zip`,
      contentLength: null,
      body,
      digest,
      recordings: recordings.length,
      settle: (complete) =>
        (settled ??= this.deps.releases.record({
          recordingIds,
          requester,
          recipient,
          purpose: 'subject_access',
          authorisedBy: principal.username,
          dpoApprovedBy: principal.role === 'dpo' ? principal.username : null,
          accessRequestId: null,
          format: 'zip',
          sha256: digest.hex(),
          bytes: digest.size,
          complete,
          channel: 'subject-access',
          recordedBy: principal.username,
          notes: `${recordings.length} recording(s)`,
        })),
    };
  }
}

function manifestLine(file: string, recording: Recording, digest: DigestStream): string {
  return csvLine([
    file,
    recording.id,
    recording.callTime.toISOString(),
    recording.durationSec ?? '',
    recording.direction ?? '',
    recording.fromNumber ?? recording.fromDisplay ?? '',
    recording.toNumber ?? recording.toDisplay ?? '',
    recording.extension ?? '',
    recording.line ?? '',
    recording.team ?? '',
    recording.category,
    recording.parties.map((party) => (party.role ? `${party.name} (${party.role})` : party.name)).join('; '),
    digest.hex(),
    digest.size,
  ]);
}

function readableOf(text: string): Readable {
  const stream = new PassThrough();
  stream.end(text);
  return stream;
}
