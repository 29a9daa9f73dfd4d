import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeWav } from './wav';

/** A real MP3 made by ffmpeg from a generated WAV (providers such as Vonage deliver MP3). */
export function makeMp3(seconds: number): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callvault-mp3-'));
  try {
    fs.writeFileSync(path.join(dir, 'in.wav'), makeWav({ seconds }));
    const result = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', 'in.wav', '-codec:a', 'libmp3lame', '-b:a', '32k', 'out.mp3'], { cwd: dir });
    if (result.status !== 0) throw new Error(`ffmpeg failed (is it installed?): ${result.stderr?.toString()}`);
    return fs.readFileSync(path.join(dir, 'out.mp3'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
