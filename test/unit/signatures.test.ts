import crypto from 'node:crypto';
import { AppError } from '../../src/errors';
import { GenericSignatureCheck, checkSignatureTime, parseSignatureHeader, signGenericBody } from '../../src/providers/generic/signature';
import { parseForm, twilioSignature, urlPortVariants, verifyTwilioSignature } from '../../src/providers/twilio/signature';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const twilioWebhooks = require('twilio/lib/webhooks/webhooks') as {
  getExpectedTwilioSignature(token: string, url: string, params: Record<string, string | string[]>): string;
  validateRequest(token: string, signature: string, url: string, params: Record<string, string>): boolean;
};

describe('Twilio signature', () => {
  const published = {
    token: '12345',
    url: 'https://mycompany.com/myapp.php?foo=1&bar=2',
    body: 'CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212',
    signature: 'RSOYDt4T1cUTdK1PDd93/VVr8B8=',
  };

  it("matches Twilio's published example", () => {
    expect(twilioSignature(published.token, published.url, parseForm(published.body))).toBe(published.signature);
    expect(() => verifyTwilioSignature(published.token, published.signature, published.url, parseForm(published.body))).not.toThrow();
  });

  it('agrees with the official helper on random parameters, including repeated names and spaces', () => {
    for (let i = 0; i < 50; i += 1) {
      const params: Record<string, string | string[]> = {};
      const form = new URLSearchParams();
      for (let j = 0; j < 6; j += 1) {
        const name = `P${crypto.randomBytes(2).toString('hex')}`;
        const values = j === 0 ? [`v ${i}+${j}`, `a&${j}`] : [crypto.randomBytes(5).toString('base64')];
        params[name] = values.length > 1 ? values : values[0]!;
        for (const value of values) form.append(name, value);
      }
      const url = `https://callvault.example.org/webhooks/twilio?line=main&i=${i}`;
      expect(twilioSignature('token', url, parseForm(form.toString()))).toBe(twilioWebhooks.getExpectedTwilioSignature('token', url, params));
    }
  });

  it('accepts the URL with and without the default port, as Twilio may sign either', () => {
    const params = parseForm(published.body);
    const withPort = 'https://mycompany.com:443/myapp.php?foo=1&bar=2';
    const signedWithPort = twilioSignature(published.token, withPort, params);
    expect(() => verifyTwilioSignature(published.token, signedWithPort, published.url, params)).not.toThrow();
    expect(() => verifyTwilioSignature(published.token, published.signature, withPort, params)).not.toThrow();
    expect(urlPortVariants('http://a.example/x?y=1')).toEqual(['http://a.example/x?y=1', 'http://a.example:80/x?y=1']);
    expect(urlPortVariants('https://a.example:8443/x')).toEqual(['https://a.example:8443/x', 'https://a.example/x']);
  });

  it('refuses a wrong, truncated or missing signature', () => {
    const params = parseForm(published.body);
    for (const bad of [published.signature.slice(0, -2), 'RSOYDt4T1cUTdK1PDd93/VVr8B8', `${published.signature}x`, 'a'.repeat(28)]) {
      expect(() => verifyTwilioSignature(published.token, bad, published.url, params)).toThrow(expect.objectContaining({ code: 'E_SIGNATURE_INVALID' }));
    }
    expect(() => verifyTwilioSignature(published.token, undefined, published.url, params)).toThrow(expect.objectContaining({ code: 'E_SIGNATURE_MISSING' }));
    expect(() => verifyTwilioSignature('54321', published.signature, published.url, params)).toThrow(AppError);
  });
});

describe('generic signature', () => {
  const secret = 'pbx-secret';
  const body = Buffer.from('{"eventId":"e1"}');
  const now = new Date('2026-11-20T10:00:00Z');
  const t = Math.floor(now.getTime() / 1000);

  function check(header: string, content: Buffer = body): void {
    const parsed = parseSignatureHeader(header);
    checkSignatureTime(parsed, now);
    const verifier = new GenericSignatureCheck(secret, parsed);
    verifier.update(content);
    verifier.verify();
  }

  it('accepts a body signed as documented: hex HMAC-SHA256 of "<t>.<body>"', () => {
    const mac = crypto.createHmac('sha256', secret).update(`${t}.${body.toString()}`).digest('hex');
    expect(() => check(`t=${t},v1=${mac}`)).not.toThrow();
    expect(signGenericBody(secret, body, t)).toBe(`t=${t},v1=${mac}`);
  });

  it('accepts when any of several v1 values matches (secret rotation), in any order of fields', () => {
    const good = signGenericBody(secret, body, t).split('v1=')[1];
    expect(() => check(`v1=${'0'.repeat(64)}, t=${t}, v1=${good}`)).not.toThrow();
  });

  it('the body is fed in pieces exactly as it streams', () => {
    const parsed = parseSignatureHeader(signGenericBody(secret, body, t));
    const verifier = new GenericSignatureCheck(secret, parsed);
    for (const byte of body) verifier.update(Buffer.from([byte]));
    expect(() => verifier.verify()).not.toThrow();
  });

  it.each([
    ['a changed body', () => check(signGenericBody(secret, body, t), Buffer.from('{"eventId":"e2"}')), 'E_SIGNATURE_INVALID'],
    ['another secret', () => check(signGenericBody('other', body, t)), 'E_SIGNATURE_INVALID'],
    ['a timestamp 301 s old', () => check(signGenericBody(secret, body, t - 301)), 'E_SIGNATURE_EXPIRED'],
    ['a timestamp 301 s ahead', () => check(signGenericBody(secret, body, t + 301)), 'E_SIGNATURE_EXPIRED'],
    ['no header', () => parseSignatureHeader(undefined), 'E_SIGNATURE_MISSING'],
    ['no timestamp', () => parseSignatureHeader(`v1=${'a'.repeat(64)}`), 'E_SIGNATURE_INVALID'],
    ['a short signature', () => parseSignatureHeader(`t=${t},v1=abcd`), 'E_SIGNATURE_INVALID'],
    ['a non-hex signature', () => parseSignatureHeader(`t=${t},v1=${'z'.repeat(64)}`), 'E_SIGNATURE_INVALID'],
  ])('refuses %s', (_name, run, code) => {
    expect(run).toThrow(expect.objectContaining({ code }));
  });

  it('a timestamp exactly at the edge of the window is accepted', () => {
    expect(() => check(signGenericBody(secret, body, t - 300))).not.toThrow();
  });
});
