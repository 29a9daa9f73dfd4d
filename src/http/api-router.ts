import express, { type Request, type Router } from 'express';
import type { AccessRequests } from '../access/access-requests';
import { requiredText } from '../access/access-requests';
import type { AccessRequestRecord } from '../db/access-requests';
import { parseHead, type AuditTrail } from '../access/audit-trail';
import type { Authentication } from '../access/authentication';
import type { RecordingAccess, SearchQuery } from '../access/recording-access';
import type { ReleaseRegister } from '../access/release-register';
import { may, type Action } from '../access/roles';
import { AppError } from '../errors';
import type { AudioDelivery } from '../export/audio-delivery';
import type { SubjectAccess } from '../export/subject-access';
import type { RetentionService } from '../retention/retention-service';
import { bearerAuth, principalOf, reasonFrom, REASON_HEADER, requireReasonOnReads } from './api-auth';
import { deliver, write } from './deliver';
import { openApiDocument } from './openapi';
import { parseRange } from './range';

/** The JSON API under /api (SPEC 7a; described in /api/openapi.json). */

export interface ApiDeps {
  readonly authentication: Authentication;
  readonly recordings: RecordingAccess;
  readonly accessRequests: AccessRequests;
  readonly audio: AudioDelivery;
  readonly subjectAccess: SubjectAccess;
  readonly releases: ReleaseRegister;
  readonly audit: AuditTrail;
  readonly retention: RetentionService;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function apiRouter(deps: ApiDeps): Router {
  const router = express.Router();
  router.use(express.json({ limit: '256kb' }));

  router.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });

  router.post('/auth/login', async (req, res) => {
    const body = bodyOf(req);
    const signedIn = await deps.authentication.signIn(body.username as string, body.password as string);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ token: signedIn.token, expiresAt: signedIn.expiresAt.toISOString(), user: { username: signedIn.principal.username, role: signedIn.principal.role } });
  });

  // Everything below needs a signed-in user, and every read a stated reason.
  router.use(bearerAuth(deps.authentication));
  router.use(requireReasonOnReads());

  router.post('/auth/logout', async (req, res) => {
    await deps.authentication.signOut(req.bearerToken!, principalOf(req));
    res.status(204).end();
  });

  router.get('/recordings', async (req, res) => {
    res.json(await deps.recordings.search(principalOf(req), req.query as SearchQuery, req.accessReason!));
  });

  router.get('/recordings/:id', async (req, res) => {
    res.json(await deps.recordings.view(principalOf(req), recordingId(req), req.accessReason!));
  });

  router.get('/recordings/:id/audio', async (req, res) => {
    const principal = principalOf(req);
    const id = recordingId(req);
    const format = typeof req.query.format === 'string' ? req.query.format : 'original';
    if (format === 'mp3' || format === 'wav') {
      const grantId = typeof req.query.grant === 'string' ? req.query.grant : undefined;
      const delivery = await deps.audio.export(principal, id, { format, reason: req.accessReason!, grantId, channel: 'api' });
      await deliver(res, delivery, { status: 200, headers: audioHeaders(delivery.contentType, delivery.filename, 'attachment') });
      return;
    }
    if (format !== 'original') throw new AppError('E_VALIDATION', 'format: mp3, wav or original');
    let delivery;
    try {
      delivery = await deps.audio.play(principal, id, req.accessReason!, (size) => parseRange(req.get('range'), size));
    } catch (error) {
      const size = (error as AppError).details?.size;
      if (typeof size === 'number') res.setHeader('Content-Range', `bytes */${size}`);
      throw error;
    }
    const { range, size } = delivery;
    const headers: Record<string, string> = { ...audioHeaders(delivery.contentType, delivery.filename, 'inline'), 'Accept-Ranges': 'bytes', 'Content-Length': String(delivery.contentLength) };
    if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
    await deliver(res, delivery, { status: range ? 206 : 200, headers });
  });

  router.patch('/recordings/:id', async (req, res) => {
    const principal = allowed(req, 'recordings.category');
    const body = bodyOf(req);
    if (typeof body.category !== 'string') throw new AppError('E_VALIDATION', 'category: required');
    const changed = await deps.retention.changeCategory(recordingId(req), body.category, requiredText(body.reason, 'reason', 2000), principal.username);
    res.json({ id: recordingId(req), category: changed.to, previousCategory: changed.from, retainUntil: changed.retainUntil.toISOString() });
  });

  router.post('/recordings/:id/hold', async (req, res) => {
    const principal = allowed(req, 'recordings.hold');
    const hold = await deps.retention.placeHold(recordingId(req), requiredText(bodyOf(req).reason, 'reason', 2000), principal.username);
    res.status(201).json({ id: hold.id, recordingId: hold.recordingId, placedBy: hold.placedBy, placedAt: hold.placedAt.toISOString(), reason: hold.reason });
  });

  router.delete('/recordings/:id/hold', async (req, res) => {
    const principal = allowed(req, 'recordings.hold');
    const reason = bodyOf(req).reason ?? reasonFrom(req.get(REASON_HEADER));
    const lifted = await deps.retention.removeHold(recordingId(req), requiredText(reason, 'reason', 2000), principal.username);
    res.json({ recordingId: recordingId(req), holdsRemoved: lifted });
  });

  router.get('/access-requests', async (req, res) => {
    const limit = limitOf(req.query.limit);
    const status = typeof req.query.status === 'string' ? req.query.status : undefined;
    res.json({ items: (await deps.accessRequests.list(principalOf(req), { status, limit })).map(requestView) });
  });

  router.get('/access-requests/:id', async (req, res) => {
    res.json(requestView(await deps.accessRequests.get(principalOf(req), requestId(req))));
  });

  router.post('/access-requests', async (req, res) => {
    const created = await deps.accessRequests.create(allowed(req, 'access_requests.create'), bodyOf(req));
    res.status(201).json(requestView(created));
  });

  router.post('/access-requests/:id/approve', async (req, res) => {
    res.json(requestView(await deps.accessRequests.approve(principalOf(req), requestId(req), bodyOf(req))));
  });

  router.post('/access-requests/:id/reject', async (req, res) => {
    res.json(requestView(await deps.accessRequests.reject(principalOf(req), requestId(req), bodyOf(req))));
  });

  router.post('/access-requests/:id/revoke', async (req, res) => {
    res.json(requestView(await deps.accessRequests.revoke(principalOf(req), requestId(req), bodyOf(req))));
  });

  router.get('/releases', async (req, res) => {
    const recording = typeof req.query.recordingId === 'string' ? req.query.recordingId : undefined;
    const cursor = typeof req.query.cursor === 'string' ? req.query.cursor : undefined;
    const page = await deps.releases.list(principalOf(req), { reason: req.accessReason!, recordingId: recording, cursor, limit: limitOf(req.query.limit) });
    res.json({ items: page.items.map((release) => ({ ...release, releasedAt: release.releasedAt.toISOString() })), nextCursor: page.nextCursor });
  });

  router.get('/releases.csv', async (req, res) => {
    const lines = deps.releases.csv(allowed(req, 'releases.read'), req.accessReason!);
    const first = await lines.next();
    res.setHeader('Content-Type', 'text/csv; charset=utf-8');
    res.setHeader('Content-Disposition', 'attachment; filename="release-register.csv"');
    res.setHeader('Cache-Control', 'no-store');
    if (!first.done) res.write(first.value);
    for await (const line of lines) {
      if (!(await write(res, line))) return;
    }
    res.end();
  });

  router.post('/releases', async (req, res) => {
    const release = await deps.releases.recordManual(principalOf(req), bodyOf(req));
    res.status(201).json({ ...release, releasedAt: release.releasedAt.toISOString() });
  });

  router.post('/subject-access', async (req, res) => {
    const header = req.get(REASON_HEADER);
    const delivery = await deps.subjectAccess.bundle(principalOf(req), bodyOf(req), header ? reasonFrom(header) : undefined);
    await deliver(res, delivery, { status: 200, headers: { ...audioHeaders(delivery.contentType, delivery.filename, 'attachment'), 'X-Recordings': String(delivery.recordings) } });
  });

  router.get('/audit', async (req, res) => {
    const principal = allowed(req, 'audit.read');
    const text = (name: string): string | undefined => (typeof req.query[name] === 'string' ? (req.query[name] as string) : undefined);
    const cursor = text('cursor');
    if (cursor !== undefined && !/^\d{1,15}$/.test(cursor)) throw new AppError('E_VALIDATION', 'cursor is not one this server returned');
    const limit = limitOf(req.query.limit);
    // The read is entered first, so the trail a dpo reads already shows that they read it.
    await deps.audit.append({ actor: principal.username, actorRole: principal.role, action: 'audit.read', details: { reason: req.accessReason, filters: { actor: text('actor'), action: text('action'), recordingId: text('recordingId') } } });
    const page = await deps.audit.list({ actor: text('actor'), action: text('action'), recordingId: text('recordingId'), beforeSeq: cursor ? Number(cursor) : undefined, limit });
    res.json({ items: page.items.map((entry) => ({ ...entry, at: entry.at.toISOString() })), nextCursor: page.nextCursor });
  });

  router.get('/audit/verify', async (req, res) => {
    const principal = allowed(req, 'audit.read');
    const expect = typeof req.query.expect === 'string' ? parseHead(req.query.expect) : undefined;
    // Entered before the check, so the head it reports is the real head, this check included.
    await deps.audit.append({ actor: principal.username, actorRole: principal.role, action: 'audit.read', details: { reason: req.accessReason, verify: true } });
    res.json(await deps.audit.verify(expect));
  });

  return router;
}

function allowed(req: Request, action: Action) {
  const principal = principalOf(req);
  if (!may(principal.role, action)) throw new AppError('E_FORBIDDEN', `a ${principal.role} may not do this (${action})`);
  return principal;
}

function bodyOf(req: Request): Record<string, unknown> {
  return req.body && typeof req.body === 'object' && !Array.isArray(req.body) ? (req.body as Record<string, unknown>) : {};
}

/** An id that is not a UUID names no recording: answered like any unknown id. */
function recordingId(req: Request): string {
  const id = String(req.params.id);
  if (!UUID.test(id)) throw new AppError('E_RECORDING_NOT_FOUND', `no recording ${id.slice(0, 64)}`);
  return id.toLowerCase();
}

function requestId(req: Request): string {
  const id = String(req.params.id);
  if (!UUID.test(id)) throw new AppError('E_ACCESS_REQUEST_NOT_FOUND', `no access request ${id.slice(0, 64)}`);
  return id.toLowerCase();
}

function limitOf(value: unknown): number {
  if (value === undefined) return 50;
  const limit = typeof value === 'string' && /^\d{1,3}$/.test(value) ? Number(value) : NaN;
  if (!(limit >= 1 && limit <= 500)) throw new AppError('E_VALIDATION', 'limit: 1 to 500');
  return limit;
}

function audioHeaders(contentType: string, filename: string, disposition: 'inline' | 'attachment'): Record<string, string> {
  return {
    'Content-Type': contentType,
    'Content-Disposition': `${disposition}; filename="${filename}"`,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  };
}

function requestView(request: AccessRequestRecord): Record<string, unknown> {
  const time = (value: Date | null): string | null => value?.toISOString() ?? null;
  return {
    id: request.id,
    status: request.status,
    requester: request.requesterUsername,
    requesterRole: request.requesterRole,
    reason: request.reason,
    recordingIds: request.recordingIds,
    callTime: time(request.callTime),
    extension: request.extension,
    externalNumber: request.externalNumber,
    parties: request.parties,
    notes: request.notes,
    purpose: request.purpose,
    releaseRequester: request.releaseRequester,
    releaseRecipient: request.releaseRecipient,
    decidedBy: request.decidedBy,
    decidedAt: time(request.decidedAt),
    decisionNote: request.decisionNote,
    expiresAt: time(request.expiresAt),
    dpoApprovedBy: request.dpoApprovedBy,
    dpoApprovedAt: time(request.dpoApprovedAt),
    revokedBy: request.revokedBy,
    revokedAt: time(request.revokedAt),
    createdAt: time(request.createdAt),
  };
}
