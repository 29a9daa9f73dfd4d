import fs from 'node:fs';
import path from 'node:path';
import { VARIABLES } from '../../config';
import { renderConfigDoc, renderErrorsDoc } from '../../scripts/docs';
import { ERROR_CODES } from '../../src/errors';

const read = (name: string): string => fs.readFileSync(path.resolve(__dirname, '../..', name), 'utf8');

describe('generated documentation is current (run npm run docs after changing errors or variables)', () => {
  it('docs/ERRORS.md lists exactly the error registry', () => {
    expect(read('docs/ERRORS.md')).toBe(renderErrorsDoc());
  });

  it('docs/CONFIGURATION.md lists exactly the configuration variables', () => {
    expect(read('docs/CONFIGURATION.md')).toBe(renderConfigDoc());
  });

  it('the README names every variable of SPEC 8 an operator sets', () => {
    const readme = read('README.md');
    const spec8 = ['PORT', 'CALLVAULT_DATA_DIR', 'CALLVAULT_DATABASE_URL', 'CALLVAULT_STORAGE', 'CALLVAULT_S3_ENDPOINT', 'CALLVAULT_S3_BUCKET', 'CALLVAULT_S3_CHECKSUM', 'CALLVAULT_KEK', 'CALLVAULT_PUBLIC_URL', 'CALLVAULT_TWILIO_AUTH_TOKEN', 'CALLVAULT_GENERIC_SECRET', 'CALLVAULT_FETCH_ALLOW_HOSTS', 'CALLVAULT_RETENTION_SCHEDULE', 'CALLVAULT_TIMEZONE'];
    for (const name of spec8) {
      expect(VARIABLES.some((v) => v.env === name)).toBe(true);
      expect(readme).toContain(name);
    }
  });

  it('every error code has an error-range HTTP status and a meaning', () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^E_[A-Z0-9_]+$/);
      expect(spec.status).toBeGreaterThanOrEqual(400);
      expect(spec.status).toBeLessThan(600);
      expect(spec.meaning.length).toBeGreaterThan(10);
    }
  });
});
