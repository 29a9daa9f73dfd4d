import { pipeline, Transform, type TransformCallback, type Writable } from 'node:stream';
import busboy from 'busboy';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Config } from '../../../config';
import type { Clock } from '../../clock';
import { AppError } from '../../errors';
import { decideRetention } from '../../ingest/call-metadata';
import type { Acceptance, IngestService } from '../../ingest/ingest-service';
import { EncryptedSpool, emptyStream } from '../../ingest/spool';
import { genericEventToMetadata, parseGenericEvent } from './event';
import { respond } from '../webhook-support';
import { GenericSignatureCheck, SIGNATURE_HEADER, checkSignatureTime, parseSignatureHeader } from './signature';

/**
 * POST /webhooks/generic: hosted PBXs and Asterisk/FreePBX post-call scripts.
 * - application/json: the SPEC 2 event with recordingUrl; queued, answered 202 at once.
 * - multipart/form-data: parts `event` (the JSON) and `audio` (the file); answered 202 once the
 *   recording is stored, verified and indexed.
 * The signature covers the raw body in both cases and is checked before anything is stored.
 */

export interface GenericWebhookDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly ingest: IngestService;
  readonly spoolDir: string;
  readonly onRefused?: (source: string, code: string) => void;
}

export function genericWebhookRouter(deps: GenericWebhookDeps): Router {
  const router = express.Router();
  const rawJson = express.raw({ type: () => true, limit: deps.config.limits.webhookBodyBytes });
  const budget = new UploadBudget(deps.config.limits.concurrentUploads, deps.config.limits.spoolBytes);

  router.post('/webhooks/generic', (req: Request, res: Response, next: NextFunction) => {
    const secret = deps.config.providers.generic.secret;
    respond('generic', deps.onRefused, async (): Promise<Acceptance> => {
      if (!secret) throw new AppError('E_PROVIDER_NOT_CONFIGURED', 'the generic webhook is not configured (set CALLVAULT_GENERIC_SECRET)');
      const signature = parseSignatureHeader(req.get(SIGNATURE_HEADER));
      checkSignatureTime(signature, deps.clock.now());
      const check = new GenericSignatureCheck(secret, signature);
      if (req.is('multipart/form-data')) return handleMultipart(req, check, deps, budget);
      if (!req.is('application/json')) throw new AppError('E_UNSUPPORTED_MEDIA_TYPE', 'send application/json (with recordingUrl) or multipart/form-data (event + audio)');
      const raw = await readRaw(req, res, rawJson);
      check.update(raw);
      check.verify();
      const event = parseGenericEvent(raw.toString('utf8'));
      const metadata = genericEventToMetadata(event);
      decideRetention(metadata.category, metadata.startedAt, deps.clock.now(), deps.config.retention);
      if (!event.recordingUrl && metadata.consent !== 'declined') {
        throw new AppError('E_AUDIO_MISSING', 'recordingUrl is required (or send the audio as multipart/form-data)');
      }
      return deps.ingest.accept({ source: 'generic', sourceRecordingId: event.recordingId, payload: { event }, requestId: req.id });
    })(req, res, next);
  });

  return router;
}

function readRaw(req: Request, res: Response, parser: ReturnType<typeof express.raw>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    parser(req, res, (error?: unknown) => {
      if (error) reject(error);
      else resolve(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
    });
  });
}

/** Feeds every raw byte of the request to the signature check, counting it against the upload budget. */
class SignatureTap extends Transform {
  constructor(
    private readonly check: GenericSignatureCheck,
    private readonly slot: UploadSlot,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.slot.count(chunk.length);
    } catch (error) {
      callback(error as Error);
      return;
    }
    this.check.update(chunk);
    callback(null, chunk);
  }
}

/**
 * Uploads are spooled before their signature can be checked (it covers the whole body), so the
 * room they take is bounded: at most this many at once, and their bytes together under a
 * budget; past either, the sender gets 503 and retries later, as providers do.
 */
class UploadBudget {
  active = 0;
  bytes = 0;

  constructor(
    readonly maxUploads: number,
    readonly maxBytes: number,
  ) {}

  enter(): UploadSlot {
    if (this.active >= this.maxUploads) throw new AppError('E_BUSY', `${this.active} uploads are being received; try again shortly`);
    this.active += 1;
    return new UploadSlot(this);
  }
}

/** One upload's share of the budget; `release` gives it back (once). */
class UploadSlot {
  private counted = 0;
  private released = false;

  constructor(private readonly budget: UploadBudget) {}

  count(bytes: number): void {
    this.counted += bytes;
    this.budget.bytes += bytes;
    if (this.budget.bytes > this.budget.maxBytes) throw new AppError('E_BUSY', 'too much audio is being received at once; try again shortly');
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.active -= 1;
    this.budget.bytes -= this.counted;
  }
}

async function handleMultipart(req: Request, check: GenericSignatureCheck, deps: GenericWebhookDeps, budget: UploadBudget): Promise<Acceptance> {
  const { config } = deps;
  const slot = budget.enter();
  let spool: EncryptedSpool | null = null;
  const writers: Array<Promise<unknown>> = [];
  try {
    const parts = await readParts(req, check, slot, config, () => {
      spool = new EncryptedSpool(deps.spoolDir);
      const writer = spool.writer();
      writers.push(writer.done.catch(() => undefined));
      return writer;
    });
    check.verify();
    if (parts.eventText === null) throw new AppError('E_VALIDATION', 'event: the multipart body has no "event" part');
    const event = parseGenericEvent(parts.eventText);
    const metadata = genericEventToMetadata(event);
    if (metadata.consent !== 'declined' && !parts.audioReceived) throw new AppError('E_AUDIO_MISSING', 'audio: the multipart body has no "audio" part');
    const audio = metadata.consent === 'declined' || !spool ? emptyStream() : (spool as EncryptedSpool).reader();
    return await deps.ingest.storeUpload({ metadata, audio, requestId: req.id });
  } finally {
    // The spool file is closed before it is unlinked, whatever happened to the request.
    await Promise.all(writers);
    (spool as EncryptedSpool | null)?.remove();
    slot.release();
  }
}

interface Parts {
  eventText: string | null;
  audioReceived: boolean;
}

/**
 * Reads the multipart body. Every link is a pipeline, so a client that disconnects part-way
 * tears down the parser and the spool writer (its file closed) instead of leaving them open.
 */
function readParts(
  req: Request,
  check: GenericSignatureCheck,
  slot: UploadSlot,
  config: Config,
  openSpool: () => { input: Writable; done: Promise<void> },
): Promise<Parts> {
  return new Promise<Parts>((resolve, reject) => {
    const parts: Parts = { eventText: null, audioReceived: false };
    let failed: AppError | null = null;
    let declined = false;
    const pendingWrites: Promise<void>[] = [];
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        limits: { files: 1, fields: 1, parts: 3, fileSize: config.limits.audioBytes, fieldSize: config.limits.webhookBodyBytes },
      });
    } catch {
      reject(new AppError('E_BAD_REQUEST', 'the multipart body has no boundary'));
      return;
    }
    const fail = (error: AppError): void => {
      failed ??= error;
    };
    parser.on('field', (name, value, info) => {
      if (name !== 'event') return fail(new AppError('E_VALIDATION', `unknown multipart field "${name.slice(0, 40)}"; expected "event" and "audio"`));
      if (info.valueTruncated) return fail(new AppError('E_PAYLOAD_TOO_LARGE', 'the event part is larger than the limit'));
      parts.eventText = value;
      // Peek at consent so that declined audio is dropped unread rather than spooled.
      try {
        declined = (JSON.parse(value) as { consent?: unknown }).consent === 'declined';
      } catch {
        // reported properly after the signature check
      }
    });
    parser.on('file', (name, stream) => {
      if (name !== 'audio') {
        stream.resume();
        return fail(new AppError('E_VALIDATION', `unknown multipart file "${name.slice(0, 40)}"; expected "audio"`));
      }
      parts.audioReceived = true;
      stream.on('limit', () => fail(new AppError('E_AUDIO_TOO_LARGE', `the audio is larger than the limit of ${config.limits.audioBytes} bytes`)));
      if (declined || failed) {
        stream.resume();
        return;
      }
      const { input, done } = openSpool();
      pipeline(stream, input, () => undefined);
      pendingWrites.push(done.catch((error: unknown) => fail(new AppError('E_INTERNAL', `could not spool the upload: ${(error as Error).message}`))));
    });
    parser.on('filesLimit', () => fail(new AppError('E_VALIDATION', 'only one "audio" file may be sent')));
    parser.on('fieldsLimit', () => fail(new AppError('E_VALIDATION', 'only one "event" field may be sent')));
    parser.on('close', () => {
      Promise.all(pendingWrites).then(() => (failed ? reject(failed) : resolve(parts)), reject);
    });
    pipeline(req, new SignatureTap(check, slot), parser, (error) => {
      if (!error) return;
      const appError = error instanceof AppError ? error : new AppError('E_BAD_REQUEST', `the upload did not complete: ${error.message}`);
      fail(appError);
      reject(failed);
    });
  });
}
