import crypto from 'node:crypto';
import os from 'node:os';

/**
 * Who holds a lease (an ingest job, the retention sweep): "<host>-<pid>-<random>". The host
 * name is cut to 40 characters so the id fits the owner columns (64) whatever the machine is
 * called; the random part keeps two processes that reuse a pid apart.
 */

const HOST = os.hostname().slice(0, 40);

export function newOwnerId(): string {
  return `${HOST}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
}

/** True when `owner` is a process on this machine that is no longer running. */
export function isDeadLocalOwner(owner: string): boolean {
  const match = /^(.*)-(\d+)-[0-9a-f]{6}$/.exec(owner);
  if (!match || match[1] !== HOST) return false;
  const pid = Number(match[2]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
