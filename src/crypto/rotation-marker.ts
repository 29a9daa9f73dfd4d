import fs from 'node:fs';
import path from 'node:path';

/**
 * A key rotation under way is recorded in the key folder (rotation.json: the key it rotates to,
 * and when it started), so that "keys rotate" run again finishes it instead of generating yet
 * another key. It is removed once every recording is under that key. It holds no secret.
 */

export interface RotationMarker {
  readonly to: string;
  readonly startedAt: string;
}

const ROTATION_FILE = 'rotation.json';

export function readRotationMarker(dir: string): RotationMarker | null {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(dir, ROTATION_FILE), 'utf8')) as Partial<RotationMarker>;
    return typeof parsed.to === 'string' && typeof parsed.startedAt === 'string' ? { to: parsed.to, startedAt: parsed.startedAt } : null;
  } catch {
    return null;
  }
}

export function writeRotationMarker(dir: string, marker: RotationMarker): void {
  fs.writeFileSync(path.join(dir, ROTATION_FILE), `${JSON.stringify(marker)}\n`, { mode: 0o600 });
}

export function clearRotationMarker(dir: string): void {
  fs.rmSync(path.join(dir, ROTATION_FILE), { force: true });
}

