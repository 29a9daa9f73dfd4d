/**
 * The API described (OpenAPI 3.1), served at /api/openapi.json. A test checks that every
 * operation here answers at its path and that the router has no route missing from here.
 */

const ROLE_NOTE = {
  search: 'Roles: manager, ig_lead, staff (staff: only calls they took part in, by username or extension).',
  audio: 'Any role, under a live grant covering the recording (roles in CALLVAULT_GRANT_EXEMPT_ROLES may play without one; admin never).',
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [String(status), { description: ERROR_TEXT[status] ?? 'error', content: json(ref('Error')) }]));
const ERROR_TEXT: Record<number, string> = {
  400: 'invalid input, or no X-Access-Reason (E_REASON_REQUIRED)',
  401: 'no valid bearer token (E_AUTH_REQUIRED) or bad credentials (E_AUTH_FAILED)',
  403: 'role not allowed (E_FORBIDDEN), no live grant (E_GRANT_REQUIRED), release not authorised',
  404: 'not found (or not visible to this user)',
  409: 'conflict (already decided, being destroyed, no audio)',
  410: 'destroyed under its retention rule',
  416: 'byte range outside the recording',
};
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const reasonParam = { $ref: '#/components/parameters/AccessReason' };
const secured = [{ bearer: [] }];

const recordingProperties = {
  id: { type: 'string', format: 'uuid' },
  callTime: { type: 'string', format: 'date-time' },
  startedAt: { type: ['string', 'null'], format: 'date-time' },
  endedAt: { type: ['string', 'null'], format: 'date-time' },
  durationSec: { type: ['integer', 'null'] },
  direction: { type: ['string', 'null'], enum: ['inbound', 'outbound', 'internal', null] },
  from: { type: ['string', 'null'], description: 'E.164 when the number parses, otherwise as the source sent it' },
  to: { type: ['string', 'null'] },
  extension: { type: ['string', 'null'] },
  line: { type: ['string', 'null'] },
  team: { type: ['string', 'null'] },
  staff: { type: 'array', items: { type: 'string' } },
  parties: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, role: { type: ['string', 'null'] } } } },
  category: { type: 'string' },
  retainUntil: { type: 'string', format: 'date-time' },
  underLegalHold: { type: 'boolean' },
  status: { type: 'string', enum: ['stored', 'not_retained', 'unavailable', 'destroying'] },
  hasAudio: { type: 'boolean' },
  format: { type: ['string', 'null'] },
  sha256: { type: ['string', 'null'], description: 'SHA-256 of the stored audio' },
};

const accessRequestProperties = {
  id: { type: 'string', format: 'uuid' },
  status: { type: 'string', enum: ['pending', 'approved', 'rejected', 'revoked'] },
  requester: { type: 'string' },
  requesterRole: { type: 'string' },
  reason: { type: 'string' },
  recordingIds: { type: 'array', items: { type: 'string', format: 'uuid' } },
  callTime: { type: ['string', 'null'], format: 'date-time' },
  extension: { type: ['string', 'null'] },
  externalNumber: { type: ['string', 'null'] },
  parties: { type: 'array', items: { type: 'string' } },
  notes: { type: ['string', 'null'] },
  purpose: { type: ['string', 'null'], enum: ['subject_access', 'complaint', 'police', 'disciplinary', 'clinical_record', 'training', null] },
  releaseRequester: { type: ['string', 'null'] },
  releaseRecipient: { type: ['string', 'null'] },
  decidedBy: { type: ['string', 'null'] },
  decidedAt: { type: ['string', 'null'], format: 'date-time' },
  decisionNote: { type: ['string', 'null'] },
  expiresAt: { type: ['string', 'null'], format: 'date-time', description: 'the grant lasts until then' },
  dpoApprovedBy: { type: ['string', 'null'] },
  dpoApprovedAt: { type: ['string', 'null'], format: 'date-time' },
  revokedBy: { type: ['string', 'null'] },
  revokedAt: { type: ['string', 'null'], format: 'date-time' },
  createdAt: { type: 'string', format: 'date-time' },
};

const releaseProperties = {
  id: { type: 'string', format: 'uuid' },
  releasedAt: { type: 'string', format: 'date-time' },
  recordingIds: { type: 'array', items: { type: 'string', format: 'uuid' } },
  requester: { type: 'string' },
  recipient: { type: 'string' },
  purpose: { type: 'string', enum: ['subject_access', 'complaint', 'police', 'disciplinary', 'clinical_record', 'training'] },
  authorisedBy: { type: 'string' },
  dpoApprovedBy: { type: ['string', 'null'] },
  accessRequestId: { type: ['string', 'null'], format: 'uuid' },
  format: { type: 'string' },
  sha256: { type: 'string', description: 'SHA-256 of exactly the bytes that left' },
  bytes: { type: ['integer', 'null'] },
  complete: { type: 'boolean', description: 'false when the transfer was cut off' },
  channel: { type: 'string', enum: ['api', 'cli', 'subject-access', 'manual'] },
  recordedBy: { type: 'string' },
  notes: { type: ['string', 'null'] },
};

const auditProperties = {
  seq: { type: 'integer' },
  at: { type: 'string', format: 'date-time' },
  actor: { type: 'string' },
  actorRole: { type: ['string', 'null'] },
  action: { type: 'string' },
  recordingId: { type: ['string', 'null'] },
  details: { type: 'object' },
  prevHash: { type: 'string' },
  hash: { type: 'string' },
};

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'callvault API',
      version: '1.0.0',
      description:
        'Search, hear and release call recordings under UK GDPR. Every call needs a bearer token from POST /api/auth/login; every read (GET) needs a stated reason in X-Access-Reason; everything is written to a hash-chained audit trail. Errors are always {code, message} (docs/ERRORS.md).',
    },
    servers: [{ url: '/api' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'token from POST /auth/login' } },
      parameters: {
        AccessReason: { name: 'X-Access-Reason', in: 'header', required: true, description: 'why this access is needed (5-500 characters; percent-encode non-ASCII)', schema: { type: 'string', minLength: 5, maxLength: 500 } },
      },
      schemas: {
        Error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string', pattern: '^E_[A-Z0-9_]+$' }, message: { type: 'string' } } },
        Recording: { type: 'object', properties: recordingProperties },
        AccessRequest: { type: 'object', properties: accessRequestProperties },
        Release: { type: 'object', properties: releaseProperties },
        AuditEntry: { type: 'object', properties: auditProperties },
        Reason: { type: 'object', required: ['reason'], properties: { reason: { type: 'string', minLength: 5 } } },
      },
    },
    paths: {
      '/auth/login': {
        post: {
          summary: 'Sign in',
          description: 'Repeated failures lock the account for a while (CALLVAULT_LOGIN_MAX_FAILURES, CALLVAULT_LOGIN_LOCKOUT_SECONDS); every refusal is the same 401.',
          requestBody: { required: true, content: json({ type: 'object', required: ['username', 'password'], properties: { username: { type: 'string' }, password: { type: 'string', format: 'password' } } }) },
          responses: {
            '200': { description: 'signed in', content: json({ type: 'object', properties: { token: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' }, user: { type: 'object', properties: { username: { type: 'string' }, role: { type: 'string' } } } } }) },
            ...errors(401),
          },
        },
      },
      '/auth/logout': { post: { summary: 'Revoke this token', security: secured, responses: { '204': { description: 'revoked' }, ...errors(401) } } },
      '/recordings': {
        get: {
          summary: 'Search recordings, newest first',
          description: `${ROLE_NOTE.search} Recordings being destroyed or destroyed are not listed.`,
          security: secured,
          parameters: [
            reasonParam,
            ...['number', 'extension', 'line', 'team', 'staff', 'party', 'category', 'cursor'].map((name) => ({ name, in: 'query', schema: { type: 'string' }, description: name === 'number' ? 'any format; normalised to E.164; matches either end of the call' : name === 'party' ? 'part of a party\'s name, case- and accent-insensitive' : undefined })),
            { name: 'from', in: 'query', schema: { type: 'string', format: 'date-time' } },
            { name: 'to', in: 'query', schema: { type: 'string', format: 'date-time' }, description: 'exclusive' },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 25 } },
          ],
          responses: { '200': { description: 'a page', content: json({ type: 'object', properties: { items: { type: 'array', items: ref('Recording') }, nextCursor: { type: ['string', 'null'] } } }) }, ...errors(400, 401, 403) },
        },
      },
      '/recordings/{id}': {
        get: { summary: 'One recording\'s details', description: ROLE_NOTE.search, security: secured, parameters: [idParam, reasonParam], responses: { '200': { description: 'details', content: json(ref('Recording')) }, ...errors(400, 401, 403, 404, 410) } },
        patch: {
          summary: 'Change the retention category (destruction date recomputed)',
          description: 'Roles: ig_lead, dpo.',
          security: secured,
          parameters: [idParam],
          requestBody: { required: true, content: json({ type: 'object', required: ['category', 'reason'], properties: { category: { type: 'string' }, reason: { type: 'string' } } }) },
          responses: { '200': { description: 'changed', content: json({ type: 'object' }) }, ...errors(400, 401, 403, 404, 409, 410) },
        },
      },
      '/recordings/{id}/audio': {
        get: {
          summary: 'The audio',
          description: `${ROLE_NOTE.audio} format=original streams the stored audio for playback, with HTTP Range (206). format=mp3|wav is an export: it needs a grant naming a release purpose, and enters the release register with the SHA-256 of the bytes sent.`,
          security: secured,
          parameters: [
            idParam,
            reasonParam,
            { name: 'format', in: 'query', schema: { type: 'string', enum: ['mp3', 'wav', 'original'], default: 'original' } },
            { name: 'grant', in: 'query', schema: { type: 'string', format: 'uuid' }, description: 'the access request to export under, when several cover the recording' },
            { name: 'Range', in: 'header', schema: { type: 'string' }, description: 'original only, e.g. bytes=0-1023' },
          ],
          responses: {
            '200': { description: 'the audio', content: { 'audio/mpeg': {}, 'audio/wav': {}, 'audio/*': {} } },
            '206': { description: 'a byte range of the stored audio', content: { 'audio/*': {} } },
            ...errors(400, 401, 403, 404, 409, 410, 416),
          },
        },
      },
      '/recordings/{id}/hold': {
        post: { summary: 'Place a legal hold', description: 'Roles: ig_lead, dpo.', security: secured, parameters: [idParam], requestBody: { required: true, content: json(ref('Reason')) }, responses: { '201': { description: 'held', content: json({ type: 'object' }) }, ...errors(400, 401, 403, 404, 409, 410) } },
        delete: { summary: 'Remove every legal hold', description: 'Roles: ig_lead, dpo. The reason in the body or in X-Access-Reason.', security: secured, parameters: [idParam], requestBody: { content: json(ref('Reason')) }, responses: { '200': { description: 'lifted', content: json({ type: 'object' }) }, ...errors(400, 401, 403, 404) } },
      },
      '/access-requests': {
        get: { summary: 'Access requests (own; all for ig_lead and dpo)', security: secured, parameters: [reasonParam, { name: 'status', in: 'query', schema: { type: 'string', enum: ['pending', 'approved', 'rejected', 'revoked'] } }, { name: 'limit', in: 'query', schema: { type: 'integer' } }], responses: { '200': { description: 'requests', content: json({ type: 'object', properties: { items: { type: 'array', items: ref('AccessRequest') } } }) }, ...errors(400, 401) } },
        post: {
          summary: 'Ask for access',
          description: 'Any role. Staff may name only calls they took part in. With a purpose (and requester and recipient) the grant allows a copy to leave.',
          security: secured,
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              required: ['reason'],
              properties: {
                reason: { type: 'string' },
                recordingIds: { type: 'array', items: { type: 'string', format: 'uuid' } },
                callTime: { type: 'string', format: 'date-time' },
                extension: { type: 'string' },
                externalNumber: { type: 'string' },
                parties: { type: 'array', items: { type: 'string' } },
                notes: { type: 'string' },
                purpose: accessRequestProperties.purpose,
                requester: { type: 'string', description: 'who asked for the copy (with purpose)' },
                recipient: { type: 'string', description: 'who receives the copy (with purpose)' },
              },
            }),
          },
          responses: { '201': { description: 'pending', content: json(ref('AccessRequest')) }, ...errors(400, 401, 404) },
        },
      },
      '/access-requests/{id}': { get: { summary: 'One access request', security: secured, parameters: [idParam, reasonParam], responses: { '200': { description: 'request', content: json(ref('AccessRequest')) }, ...errors(400, 401, 404) } } },
      '/access-requests/{id}/approve': {
        post: {
          summary: 'Approve (a grant until expiresAt)',
          description: 'ig_lead, never their own request; may name the recordings the grant covers. The dpo approves police and disciplinary requests as a second approval.',
          security: secured,
          parameters: [idParam],
          requestBody: { content: json({ type: 'object', properties: { expiresAt: { type: 'string', format: 'date-time' }, recordingIds: { type: 'array', items: { type: 'string', format: 'uuid' } }, note: { type: 'string' } } }) },
          responses: { '200': { description: 'approved', content: json(ref('AccessRequest')) }, ...errors(400, 401, 403, 404, 409) },
        },
      },
      '/access-requests/{id}/reject': { post: { summary: 'Reject', description: 'ig_lead (dpo for police and disciplinary requests), never their own.', security: secured, parameters: [idParam], requestBody: { required: true, content: json(ref('Reason')) }, responses: { '200': { description: 'rejected', content: json(ref('AccessRequest')) }, ...errors(400, 401, 403, 404, 409) } } },
      '/access-requests/{id}/revoke': { post: { summary: 'Revoke a grant before it expires', description: 'ig_lead, dpo.', security: secured, parameters: [idParam], requestBody: { required: true, content: json(ref('Reason')) }, responses: { '200': { description: 'revoked', content: json(ref('AccessRequest')) }, ...errors(400, 401, 403, 404, 409) } } },
      '/releases': {
        get: { summary: 'The release register (Annex B), newest first', description: 'Roles: manager, ig_lead, dpo.', security: secured, parameters: [reasonParam, { name: 'recordingId', in: 'query', schema: { type: 'string', format: 'uuid' } }, { name: 'limit', in: 'query', schema: { type: 'integer' } }, { name: 'cursor', in: 'query', schema: { type: 'string' } }], responses: { '200': { description: 'entries', content: json({ type: 'object', properties: { items: { type: 'array', items: ref('Release') }, nextCursor: { type: ['string', 'null'] } } }) }, ...errors(400, 401, 403) } },
        post: {
          summary: 'Record a copy that left some other way',
          description: 'Roles: manager, ig_lead, dpo. Under a live grant naming a release purpose; requester, recipient, purpose and authorisation come from that grant.',
          security: secured,
          requestBody: { required: true, content: json({ type: 'object', required: ['accessRequestId', 'format', 'sha256'], properties: { accessRequestId: { type: 'string', format: 'uuid' }, recordingIds: { type: 'array', items: { type: 'string', format: 'uuid' } }, format: { type: 'string', enum: ['mp3', 'wav', 'original', 'zip', 'transcript', 'other'] }, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' }, bytes: { type: 'integer' }, notes: { type: 'string' } } }) },
          responses: { '201': { description: 'recorded', content: json(ref('Release')) }, ...errors(400, 401, 403, 404) },
        },
      },
      '/releases.csv': { get: { summary: 'The release register as CSV', description: 'Roles: manager, ig_lead, dpo.', security: secured, parameters: [reasonParam], responses: { '200': { description: 'CSV', content: { 'text/csv': {} } }, ...errors(400, 401, 403) } } },
      '/subject-access': {
        post: {
          summary: 'Every recording held for a number or a name, as one ZIP (MP3s + manifest.csv)',
          description: 'Roles: ig_lead, dpo. Enters the release register (purpose subject_access) with the SHA-256 of the ZIP as sent.',
          security: secured,
          requestBody: { required: true, content: json({ type: 'object', required: ['requester', 'reason'], properties: { number: { type: 'string' }, name: { type: 'string' }, requester: { type: 'string' }, recipient: { type: 'string' }, reason: { type: 'string' } } }) },
          responses: { '200': { description: 'the bundle', content: { 'application/zip': {} } }, ...errors(400, 401, 403, 404) },
        },
      },
      '/audit': { get: { summary: 'The audit trail, newest first', description: 'Role: dpo.', security: secured, parameters: [reasonParam, ...['actor', 'action', 'recordingId', 'cursor'].map((name) => ({ name, in: 'query', schema: { type: 'string' } })), { name: 'limit', in: 'query', schema: { type: 'integer' } }], responses: { '200': { description: 'entries', content: json({ type: 'object', properties: { items: { type: 'array', items: ref('AuditEntry') }, nextCursor: { type: ['string', 'null'] } } }) }, ...errors(400, 401, 403) } } },
      '/audit/verify': {
        get: {
          summary: 'Check the whole hash chain',
          description: 'Role: dpo. Names every place the chain breaks (edited, removed or inserted entries). With expect=<seq>:<hash> noted earlier, also finds entries cut from the end.',
          security: secured,
          parameters: [reasonParam, { name: 'expect', in: 'query', schema: { type: 'string', pattern: '^\\d+:[0-9a-f]{64}$' } }],
          responses: { '200': { description: 'result', content: json({ type: 'object', properties: { ok: { type: 'boolean' }, entries: { type: 'integer' }, head: { type: ['object', 'null'] }, breaks: { type: 'array', items: { type: 'object', properties: { seq: { type: 'integer' }, problem: { type: 'string' }, message: { type: 'string' } } } } } }) }, ...errors(400, 401, 403) },
        },
      },
      '/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } } } },
    },
  };
}
