import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline, Readable, type Writable } from 'node:stream';
import { ChunkDecryptStream, EncryptStream, generateDataKey } from '../crypto/container';

/**
 * A temporary file for audio that must wait until its request has been fully read and its
 * signature checked (multipart webhooks). It is encrypted with a key that exists only in this
 * process's memory, so a copy left by a crash is unreadable noise, removed on the next start;
 * plaintext audio never touches the disk.
 */
export class EncryptedSpool {
  private readonly key = generateDataKey();
  readonly file: string;

  constructor(dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = path.join(dir, `${crypto.randomUUID()}.spool`);
  }

  /** A writable that encrypts into the spool file; resolves `done` once the file is complete. */
  writer(): { input: Writable; done: Promise<void> } {
    const encrypt = new EncryptStream(this.key);
    const out = fs.createWriteStream(this.file, { flags: 'wx', mode: 0o600 });
    const done = new Promise<void>((resolve, reject) => {
      pipeline(encrypt, out, (error) => (error ? reject(error) : resolve()));
    });
    return { input: encrypt, done };
  }

  reader(): Readable {
    return pipeline(fs.createReadStream(this.file), new ChunkDecryptStream(this.key), () => undefined);
  }

  remove(): void {
    this.key.fill(0);
    fs.rmSync(this.file, { force: true });
  }

  /** Removes spool files older than `olderThanMs` (leftovers of a process that stopped). */
  static sweep(dir: string, olderThanMs: number): number {
    let removed = 0;
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return 0;
    }
    const cutoff = Date.now() - olderThanMs;
    for (const name of names.filter((n) => n.endsWith('.spool'))) {
      const file = path.join(dir, name);
      try {
        if (fs.statSync(file).mtimeMs < cutoff) {
          fs.rmSync(file, { force: true });
          removed += 1;
        }
      } catch {
        // removed by another process meanwhile
      }
    }
    return removed;
  }
}

export function emptyStream(): Readable {
  return Readable.from([]);
}
