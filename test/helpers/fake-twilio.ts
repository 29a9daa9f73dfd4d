import type http from 'node:http';
import { startFakeServer, type FakeServer } from './http-server';
import { TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN } from './test-app';

/**
 * Plays Twilio's REST API on 127.0.0.1: the Calls resource in Twilio's JSON and recording media
 * at RecordingUrl + ".wav", both behind HTTP basic auth AccountSid:AuthToken, with Twilio's JSON
 * error body on 401/404.
 */

export interface FakeTwilioCall {
  from: string;
  to: string;
  direction: string;
}

export interface FakeTwilio {
  readonly server: FakeServer;
  readonly url: string;
  readonly calls: Map<string, FakeTwilioCall>;
  readonly recordings: Map<string, Buffer>;
  /** Extra behaviour for the recording media route (e.g. fail twice). */
  mediaOverride: ((req: http.IncomingMessage, res: http.ServerResponse) => boolean) | null;
  /** Recording SIDs deleted through DELETE .../Recordings/{sid}.json, in order. */
  readonly deleted: string[];
  /** DELETE answers 500 this many times before it succeeds. */
  deleteFailures: number;
  recordingUrl(recordingSid: string): string;
  close(): Promise<void>;
}

function twilioError(res: http.ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }));
}

export async function startFakeTwilio(): Promise<FakeTwilio> {
  const calls = new Map<string, FakeTwilioCall>();
  const recordings = new Map<string, Buffer>();
  const expectedAuth = `Basic ${Buffer.from(`${TWILIO_ACCOUNT_SID}:${TWILIO_AUTH_TOKEN}`).toString('base64')}`;
  const fake: FakeTwilio = {
    server: undefined as unknown as FakeServer,
    url: '',
    calls,
    recordings,
    mediaOverride: null,
    deleted: [],
    deleteFailures: 0,
    recordingUrl: (sid) => `${fake.url}/2010-04-01/Accounts/${TWILIO_ACCOUNT_SID}/Recordings/${sid}`,
    close: async () => fake.server.close(),
  };
  const server = await startFakeServer((req, res) => {
    if (req.headers.authorization !== expectedAuth) return twilioError(res, 401, 20003, 'Authenticate');
    const call = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Calls\/(CA[0-9a-f]{32})\.json$/.exec(req.url ?? '');
    if (call && req.method === 'GET') {
      const details = calls.get(call[2]!);
      if (!details) return twilioError(res, 404, 20404, `The requested resource /2010-04-01/Accounts/${call[1]}/Calls/${call[2]}.json was not found`);
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(
        JSON.stringify({
          sid: call[2],
          account_sid: call[1],
          from: details.from,
          to: details.to,
          direction: details.direction,
          status: 'completed',
          start_time: 'Fri, 20 Nov 2026 09:14:00 +0000',
          end_time: 'Fri, 20 Nov 2026 09:14:20 +0000',
          duration: '20',
          api_version: '2010-04-01',
          uri: `/2010-04-01/Accounts/${call[1]}/Calls/${call[2]}.json`,
        }),
      );
      return;
    }
    const media = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Recordings\/(RE[0-9a-f]{32})\.wav$/.exec(req.url ?? '');
    if (media && req.method === 'GET') {
      if (fake.mediaOverride?.(req, res)) return;
      const audio = recordings.get(media[2]!);
      if (!audio) return twilioError(res, 404, 20404, 'The requested resource was not found');
      res.writeHead(200, { 'content-type': 'audio/x-wav', 'content-length': audio.length });
      res.end(audio);
      return;
    }
    const resource = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Recordings\/(RE[0-9a-f]{32})\.json$/.exec(req.url ?? '');
    if (resource && req.method === 'DELETE') {
      if (fake.deleteFailures > 0) {
        fake.deleteFailures -= 1;
        return twilioError(res, 500, 20500, 'Internal Server Error');
      }
      if (!recordings.has(resource[2]!)) return twilioError(res, 404, 20404, 'The requested resource was not found');
      recordings.delete(resource[2]!);
      fake.deleted.push(resource[2]!);
      res.writeHead(204).end();
      return;
    }
    twilioError(res, 404, 20404, 'The requested resource was not found');
  });
  Object.assign(fake, { server, url: server.url });
  return fake;
}
