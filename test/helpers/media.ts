import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yauzl from 'yauzl';

/** Reading what an export delivered: ffprobe for audio, yauzl (an independent reader) for ZIPs. */

export interface Probe {
  readonly duration: number;
  readonly codec: string;
  readonly sampleRate: number;
  readonly channels: number;
}

export function ffprobe(bytes: Buffer, extension: string): Probe {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callvault-probe-'));
  try {
    const file = path.join(dir, `probe.${extension}`);
    fs.writeFileSync(file, bytes);
    const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration:stream=codec_name,sample_rate,channels', '-of', 'json', file]).toString();
    const parsed = JSON.parse(out) as { format: { duration: string }; streams: Array<{ codec_name: string; sample_rate: string; channels: number }> };
    const stream = parsed.streams[0]!;
    return { duration: Number(parsed.format.duration), codec: stream.codec_name, sampleRate: Number(stream.sample_rate), channels: stream.channels };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function sha256(bytes: Buffer): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

export async function unzip(bytes: Buffer): Promise<Map<string, Buffer>> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => yauzl.fromBuffer(bytes, { lazyEntries: true }, (error, file) => (error ? reject(error) : resolve(file!))));
  const files = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      zip.openReadStream(entry, (error, stream) => {
        if (error) return reject(error);
        const parts: Buffer[] = [];
        stream!.on('data', (part: Buffer) => parts.push(part));
        stream!.on('end', () => {
          files.set(entry.fileName, Buffer.concat(parts));
          zip.readEntry();
        });
        stream!.on('error', reject);
      });
    });
    zip.on('end', () => resolve());
    zip.on('error', reject);
    zip.readEntry();
  });
  return files;
}

/** A minimal CSV reader for what csvLine writes (quoted cells, CRLF). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i]!;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      row.push(cell);
      cell = '';
    } else if (char === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i += 1;
    } else cell += char;
  }
  return rows;
}
