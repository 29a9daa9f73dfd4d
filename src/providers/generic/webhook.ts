import { Transform, type TransformCallback } from 'node:stream';
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

  router.post('/webhooks/generic', (req: Request, res: Response, next: NextFunction) => {
    const secret = deps.config.providers.generic.secret;
    respond('generic', deps.onRefused, async (): Promise<Acceptance> => {
      if (!secret) throw new AppError('E_PROVIDER_NOT_CONFIGURED', 'the generic webhook is not configured (set CALLVAULT_GENERIC_SECRET)');
      const signature = parseSignatureHeader(req.get(SIGNATURE_HEADER));
      checkSignatureTime(signature, deps.clock.now());
      const check = new GenericSignatureCheck(secret, signature);
      if (req.is('multipart/form-data')) return handleMultipart(req, check, deps);
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

/** Feeds every raw byte of the request to the signature check on its way to the parser. */
class SignatureTap extends Transform {
  constructor(private readonly check: GenericSignatureCheck) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.check.update(chunk);
    callback(null, chunk);
  }
}

async function handleMultipart(req: Request, check: GenericSignatureCheck, deps: GenericWebhookDeps): Promise<Acceptance> {
  const { config } = deps;
  let spool: EncryptedSpool | null = null;
  try {
    const parts = await readParts(req, check, config, () => {
      spool = new EncryptedSpool(deps.spoolDir);
      return spool;
    });
    check.verify();
    if (parts.eventText === null) throw new AppError('E_VALIDATION', 'event: the multipart body has no "event" part');
    const event = parseGenericEvent(parts.eventText);
    const metadata = genericEventToMetadata(event);
    if (metadata.consent !== 'declined' && !parts.audioReceived) throw new AppError('E_AUDIO_MISSING', 'audio: the multipart body has no "audio" part');
    const audio = metadata.consent === 'declined' || !spool ? emptyStream() : (spool as EncryptedSpool).reader();
    return await deps.ingest.storeUpload({ metadata, audio, requestId: req.id });
  } finally {
    (spool as EncryptedSpool | null)?.remove();
  }
}

interface Parts {
  eventText: string | null;
  audioReceived: boolean;
}

function readParts(req: Request, check: GenericSignatureCheck, config: Config, openSpool: () => EncryptedSpool): Promise<Parts> {
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
      const { input, done } = openSpool().writer();
      stream.pipe(input);
      pendingWrites.push(done.catch((error: unknown) => fail(new AppError('E_INTERNAL', `could not spool the upload: ${(error as Error).message}`))));
    });
    parser.on('filesLimit', () => fail(new AppError('E_VALIDATION', 'only one "audio" file may be sent')));
    parser.on('fieldsLimit', () => fail(new AppError('E_VALIDATION', 'only one "event" field may be sent')));
    parser.on('error', (error: Error) => {
      fail(new AppError('E_BAD_REQUEST', `malformed multipart body: ${error.message}`));
      req.unpipe();
      req.resume();
      reject(failed);
    });
    parser.on('close', () => {
      Promise.all(pendingWrites).then(() => (failed ? reject(failed) : resolve(parts)), reject);
    });
    req.on('aborted', () => reject(new AppError('E_BAD_REQUEST', 'the client aborted the upload')));
    req.pipe(new SignatureTap(check)).pipe(parser);
  });
}
