import fs from 'node:fs';
import path from 'node:path';
import { renderErrorsDoc } from '../../scripts/docs-errors';
import { ERROR_CODES } from '../../src/errors';

describe('error codes', () => {
  it('docs/ERRORS.md lists exactly the registry (run npm run docs:errors after changing src/errors.ts)', () => {
    const doc = fs.readFileSync(path.resolve(__dirname, '../../docs/ERRORS.md'), 'utf8');
    expect(doc).toBe(renderErrorsDoc());
  });

  it('every code has an error-range HTTP status and a meaning', () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^E_[A-Z0-9_]+$/);
      expect(spec.status).toBeGreaterThanOrEqual(400);
      expect(spec.status).toBeLessThan(600);
      expect(spec.meaning.length).toBeGreaterThan(10);
    }
  });
});
